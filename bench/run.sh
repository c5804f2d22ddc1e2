#!/usr/bin/env bash
# run.sh: benchmark switchboard against Kamailio in ONE run and print the ratios.
#
#   bench/run.sh [--quick] [--modes "register register-auth call"]
#                [--servers "switchboard kamailio"] [--no-build] [--users N]
#
# For each mode, switchboard and then Kamailio are measured with the same SIPp
# ramp (sip-bench.sh through run-server.sh / kamailio/run-kamailio.sh), server
# pinned to CPU 0 and SIPp/tcpdump to CPU 1. Loopback only. Every process is
# started and stopped by PID (run-server.sh); each server run is also bounded
# by `timeout`. Default run <= ~15 min (after the build), --quick <= ~5 min.
# Output: results/run-<time>/ (per-run folders, server logs), rows appended to
# results/summary.tsv, and the ratio table in results/latest.md (also printed).
#
# env: SB_PORT=25060 KAM_PORT=25062 SIPP_PORT=25080 UAS_PORT=25070 CPORT=28890
#      SERVER_CPUS=0 SIPP_CPUS=1 RUST_LOG=warn (switchboard's log filter)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

quick=0 build=1 users=""
modes="register register-auth call"
servers="switchboard kamailio"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --modes) modes=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --users) users=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

SB_PORT=${SB_PORT:-25060}
KAM_PORT=${KAM_PORT:-25062}
SIPP_PORT=${SIPP_PORT:-25080}
UAS_PORT=${UAS_PORT:-25070}
CPORT=${CPORT:-28890}
SERVER_CPUS=${SERVER_CPUS:-0}
SIPP_CPUS=${SIPP_CPUS:-1}
DOMAIN=bench.test
export RUST_LOG=${RUST_LOG:-warn}

# ---- time bounds ---------------------------------------------------------
# per server and mode: ramp + captured latency steps <= max-total-secs
if [[ $quick -eq 1 ]]; then
  step_secs=4 wait_quiet=2 factor=2 refine=0 lat_fracs=""
  declare -A budget=([register]=35 [register-auth]=35 [call]=40)
  declare -A start=([register]=3000 [register-auth]=1500 [call]=100)
else
  step_secs=8 wait_quiet=5 factor=2 refine=2 lat_fracs=1.0
  declare -A budget=([register]=125 [register-auth]=125 [call]=130)
  declare -A start=([register]=1000 [register-auth]=500 [call]=100)
fi

# register mode: after the ramp, wait past Timer J (32 s, UDP non-INVITE server
# transactions) and sample PSS again: memory held by the registrations alone
settle=34

# wire latency is also captured at one fixed rate, the same for both servers
declare -A lat_rate=([register]=2000 [register-auth]=1000 [call]=200)

# ---- tools ---------------------------------------------------------------
missing=()
command -v sipp >/dev/null || missing+=(sip-tester)
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v taskset >/dev/null || missing+=(util-linux)
if [[ " $servers " == *" kamailio "* ]]; then
  command -v kamailio >/dev/null || missing+=(kamailio)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "run.sh: missing ${missing[*]}; run: apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "run.sh: installing ${missing[*]}" >&2
  apt-get install -y "${missing[@]}" >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y "${missing[@]}" >/dev/null; }
fi

# ---- build ---------------------------------------------------------------
SB="$ROOT/target/release/switchboard"
if [[ $build -eq 1 ]]; then
  echo "run.sh: cargo build --release -p switchboard" >&2
  (cd "$ROOT" && timeout 1200 cargo build --release -p switchboard)
fi
[[ -x "$SB" ]] || { echo "run.sh: $SB not found" >&2; exit 2; }

stamp=$(date +%Y%m%d-%H%M%S)
RUN="$HERE/results/run-$stamp"
mkdir -p "$RUN"
echo "run.sh: results in $RUN" >&2
# measure a private copy: other builds in the same target/ must not swap the
# binary in the middle of the run; record what was measured
cp "$SB" "$RUN/switchboard"
SB="$RUN/switchboard"
{
  echo "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "uncommitted_files $(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l)"
  echo "binary_built $(date -r "$ROOT/target/release/switchboard" '+%Y-%m-%d %H:%M:%S')"
  echo "binary_sha256 $(sha256sum "$SB" | cut -c1-16)"
  echo "kamailio $(kamailio -v 2>/dev/null | head -1 | awk '{print $3}')"
} >"$RUN/build.txt"

# ---- switchboard data + configs -----------------------------------------
# users: u000001..uNNNNNN / pw000001..pwNNNNNN, as sipbench.py write_users
# (the register modes use 20000, call mode the first 1000 as callees)
nusers=${users:-20000}
tmpl="$RUN/sb-data-template"
mkdir -p "$tmpl"
python3 - "$RUN/users.csv" "$nusers" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("name,password\n")
    for i in range(1, int(sys.argv[2]) + 1):
        f.write(f"u{i:06d},pw{i:06d}\n")
EOF
if [[ " $servers " == *" switchboard "* ]]; then
  "$SB" domain add "$DOMAIN" --data "$tmpl" >/dev/null
  t0=$(date +%s)
  "$SB" user import "$RUN/users.csv" --domain "$DOMAIN" --data "$tmpl" >/dev/null
  echo "run.sh: imported $nusers users into $tmpl in $(( $(date +%s) - t0 )) s" >&2
fi
cat >"$RUN/switchboard-noauth.toml" <<'EOF'
# register and call modes: SIPp's callers do not authenticate
[server]
log = "warn"
[auth]
required = false
EOF
cat >"$RUN/switchboard-auth.toml" <<'EOF'
# register-auth mode: defaults (auth required, MD5 offered first, qop=auth)
[server]
log = "warn"
EOF

# idle PSS (KiB) of switchboard started on data dir $1 (bindings are loaded
# from the database at start); started and stopped by PID, bounded
sb_idle_pss() {
  local log="$RUN/idle-pss.log" pid pss="" i
  : >"$log"
  RUST_LOG=warn taskset -c "$SERVER_CPUS" "$SB" --config "$RUN/switchboard-noauth.toml" \
    --data "$1" serve --sip "127.0.0.1:$SB_PORT" --domain "$DOMAIN" >"$log" 2>&1 &
  pid=$!
  for i in $(seq 1 200); do
    grep -q "listening sip udp" "$log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  sleep 3
  pss=$(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || true)
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
  echo "${pss:-0}"
}

# ---- runs ------------------------------------------------------------------
common_opts() {  # $1 = label, $2 = mode
  local o=(--out "$RUN/$1-$2" --wait-quiet "$wait_quiet" --step-secs "$step_secs"
           --max-total-secs "${budget[$2]}" --factor "$factor" --refine "$refine"
           --start-rate "${start[$2]}" --latency-fracs "$lat_fracs" --latency-rates "${lat_rate[$2]}"
           --sipp-port "$SIPP_PORT" --uas-port "$UAS_PORT" --cport "$CPORT")
  [[ -n "$users" && "$2" != call ]] && o+=(--users "$users")
  [[ "$2" == register ]] && o+=(--settle-secs "$settle")
  printf '%s\n' "${o[@]}"
}
failed_runs=()
for mode in $modes; do
  for srv in $servers; do
    lim=$(( ${budget[$mode]} + wait_quiet + 60 ))
    [[ "$mode" == register ]] && lim=$(( lim + settle ))
    mapfile -t opts < <(common_opts "$srv" "$mode")
    export TMPDIR="$RUN/tmp-$srv-$mode"   # run-server.sh puts the server log here
    mkdir -p "$TMPDIR"
    echo "=== $srv $mode (bounded: ${lim}s) ===" >&2
    rc=0
    case "$srv" in
      switchboard)
        cfg="$RUN/switchboard-noauth.toml"
        [[ "$mode" == register-auth ]] && cfg="$RUN/switchboard-auth.toml"
        data="$RUN/sb-data-$mode"
        rm -rf "$data"; cp -a "$tmpl" "$data"   # fresh: no bindings from earlier modes
        bo=()
        for o in "${opts[@]}"; do bo+=(--bench-opt "$o"); done
        timeout -k 10 "$lim" "$HERE/run-server.sh" --label switchboard --mode "$mode" \
          --port "$SB_PORT" --server-cpus "$SERVER_CPUS" --sipp-cpus "$SIPP_CPUS" \
          --bench-opt --domain --bench-opt "$DOMAIN" "${bo[@]}" -- \
          "$SB" --config "$cfg" --data "$data" serve \
          --sip "127.0.0.1:$SB_PORT" --domain "$DOMAIN" || rc=$?
        ;;
      kamailio)
        # register-auth: credentials in an htable (in memory, like switchboard's cache)
        PORT=$KAM_PORT SERVER_CPUS=$SERVER_CPUS SIPP_CPUS=$SIPP_CPUS KAM_AUTH=htable \
          ${users:+USERS=$users} \
          timeout -k 10 "$lim" "$HERE/kamailio/run-kamailio.sh" "$mode" "${opts[@]}" || rc=$?
        ;;
      *) echo "unknown server $srv" >&2; rc=2 ;;
    esac
    unset TMPDIR
    log=$(find "$RUN/tmp-$srv-$mode" -name server.log 2>/dev/null | head -1)
    [[ -n "$log" ]] && cp "$log" "$RUN/$srv-$mode.server.log"
    if [[ "$srv/$mode" == switchboard/register && -d "$RUN/sb-data-register" ]]; then
      # live memory per contact: switchboard keeps bindings across restarts, so
      # idle PSS with the bindings loaded minus idle PSS without them isolates
      # the registrations from transaction state and allocator high-water marks
      nb=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from bindings').fetchone()[0])" "$RUN/sb-data-register/switchboard.db" 2>/dev/null || echo 0)
      rm -rf "$RUN/sb-data-empty"; cp -a "$tmpl" "$RUN/sb-data-empty"
      p0=$(sb_idle_pss "$RUN/sb-data-empty"); p1=$(sb_idle_pss "$RUN/sb-data-register")
      echo "{\"bindings\": $nb, \"pss_kib_without\": $p0, \"pss_kib_with\": $p1}" \
        >"$RUN/switchboard-register/restart-mem.json"
      echo "run.sh: switchboard idle PSS ${p0} KiB empty, ${p1} KiB with $nb bindings loaded" >&2
    fi
    if [[ $rc -ne 0 ]]; then
      echo "run.sh: $srv $mode exited with $rc" >&2
      failed_runs+=("$srv/$mode:rc=$rc")
    fi
    if [[ -s "$RUN/$srv-$mode.server.log" ]]; then
      echo "run.sh: $srv $mode server log ($(wc -l <"$RUN/$srv-$mode.server.log") lines), last lines:" >&2
      tail -n 5 "$RUN/$srv-$mode.server.log" >&2
    fi
  done
done
rm -rf "$RUN"/sb-data-* "$RUN/switchboard" 2>/dev/null || true

# results/latest.md only from a complete comparison; a subset goes to the run folder
out="$RUN/report.md"
if [[ "$modes" == "register register-auth call" && "$servers" == "switchboard kamailio" ]]; then
  out="$HERE/results/latest.md"
fi
python3 "$HERE/report.py" --run-dir "$RUN" --summary "$HERE/results/summary.tsv" \
  --out "$out" --failed "${failed_runs[*]:-}" --quick "$quick"
echo "run.sh: report written to $out" >&2
