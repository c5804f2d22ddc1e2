#!/usr/bin/env bash
# bench/presence/run.sh: presence fan-out, switchboard against Kamailio's presence
# module in ONE run: N watchers (default 10,000) subscribe to one presentity over
# UDP on loopback, then one PUBLISH changes it (3 rounds); fanout.py measures the
# time until the last watcher has its NOTIFY, NOTIFYs per second of server CPU
# and memory per subscription. Then (switchboard only: Kamailio has no CAS) the CAS half:
# a fresh switchboard, N WebSocket sessions follow the presentity (presence.subscribe) and
# its own session changes it (presence.set), measured by bench/cas `cas-bench presence`.
# Writes bench/results/presence-latest.md.
#
#   bench/presence/run.sh [--watchers N] [--no-build] [--no-cas] [--servers "switchboard kamailio"]
#
# Needs: apt-get install -y kamailio kamailio-presence-modules. Server pinned to
# CPU 0, client to CPU 1; every process started here is stopped by its PID and
# bounded by `timeout`. Ports: SB_PORT=25260 KAM_PORT=25262 (env).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
watchers=10000 build=1 cas=1 servers="switchboard kamailio"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --watchers) watchers=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --no-cas) cas=0; shift ;;
    --servers) servers=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
SB_PORT=${SB_PORT:-25260}
KAM_PORT=${KAM_PORT:-25262}
DOMAIN=bench.test
RUN="$ROOT/bench/results/presence-run-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUN"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_port() { # pid log pattern
  for _ in $(seq 1 100); do
    grep -q "$3" "$2" 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

stop() { # pid
  kill "$1" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$1" 2>/dev/null || true
}

if [[ " $servers " == *" switchboard "* ]]; then
  if [[ $build -eq 1 ]]; then
    (cd "$ROOT" && cargo build --release -p switchboard --locked)
  fi
  cp "$ROOT/target/release/switchboard" "$RUN/switchboard"
  SB="$RUN/switchboard"
  data="$RUN/sb-data"
  mkdir -p "$data"
  python3 - "$RUN/users.csv" "$watchers" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("name,password\n")
    f.write("p000001,pwp000001\n")
    for i in range(1, int(sys.argv[2]) + 1):
        f.write(f"u{i:06d},pw{i:06d}\n")
PY
  "$SB" domain add "$DOMAIN" --data "$data" >/dev/null
  "$SB" user import "$RUN/users.csv" --domain "$DOMAIN" --data "$data" >/dev/null
  cp -r "$data" "$RUN/sb-data-cas"  # the CAS half starts from the same fresh data
  cat >"$RUN/switchboard.toml" <<'TOML'
# watchers and the publisher do not authenticate (as in Kamailio's config)
[server]
log = "warn"
[auth]
required = false
TOML
  log="$RUN/switchboard.log"
  timeout 600 taskset -c 0 "$SB" --config "$RUN/switchboard.toml" --data "$data" serve \
    --sip "127.0.0.1:$SB_PORT" --domain "$DOMAIN" >"$log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_port "$pid" "$log" "listening sip udp" || { echo "switchboard did not start" >&2; cat "$log" >&2; exit 1; }
  timeout 300 taskset -c 1 python3 "$HERE/fanout.py" --target "127.0.0.1:$SB_PORT" \
    --server-pid "$pid" --watchers "$watchers" --label switchboard >"$RUN/switchboard.json" || true
  stop "$pid"
  cat "$RUN/switchboard.json"
  if [[ $cas -eq 1 ]]; then
    if [[ $build -eq 1 ]]; then (cd "$ROOT/bench/cas" && cargo build --release --locked); fi
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    log="$RUN/switchboard-cas.log"
    timeout 900 taskset -c 0 "$SB" --config "$RUN/switchboard.toml" --data "$RUN/sb-data-cas" serve \
      --sip "127.0.0.1:$SB_PORT" --http 127.0.0.1:0 --domain "$DOMAIN" >"$log" 2>&1 &
    pid=$!; pids+=("$pid")
    wait_port "$pid" "$log" "listening http" || { echo "switchboard did not start" >&2; cat "$log" >&2; exit 1; }
    http=$(awk '/^listening http/ {print $3; exit}' "$log")
    spid=$(awk '{print $1}' "/proc/$pid/task/$pid/children")  # timeout's child: the server
    timeout 600 taskset -c 1 "$ROOT/bench/cas/target/release/cas-bench" presence --addr "$http" \
      --pid "$spid" --sessions "$watchers" --domain "$DOMAIN" --presentity p000001 \
      >"$RUN/switchboard-cas.txt" 2>"$RUN/switchboard-cas.err" || true
    stop "$pid"
    cat "$RUN/switchboard-cas.txt"
  fi
fi

if [[ " $servers " == *" kamailio "* ]]; then
  command -v kamailio >/dev/null || { echo "kamailio not installed" >&2; exit 2; }
  db="$RUN/kam-db"; cp -r /usr/share/kamailio/dbtext/kamailio "$db"
  log="$RUN/kamailio.log"
  timeout 600 taskset -c 0 kamailio -f "$HERE/kamailio-presence.cfg" -DD -E -m 1024 -M 32 \
    -w "$RUN" -Y "$RUN" -A "LISTEN=udp:127.0.0.1:$KAM_PORT" -A CHILDREN=4 \
    -A "DBURL=\"text://$db\"" -A "SERVER_ADDRESS=\"sip:127.0.0.1:$KAM_PORT\"" >"$log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_port "$pid" "$log" "udp: 127.0.0.1" || { echo "kamailio did not start" >&2; cat "$log" >&2; exit 1; }
  sleep 1
  timeout 300 taskset -c 1 python3 "$HERE/fanout.py" --target "127.0.0.1:$KAM_PORT" \
    --server-pid "$pid" --watchers "$watchers" --label kamailio >"$RUN/kamailio.json" || true
  stop "$pid"
  cat "$RUN/kamailio.json"
fi

python3 "$HERE/report.py" "$RUN" | tee "$RUN/report.md"
if [[ " $servers " == *" switchboard "* && " $servers " == *" kamailio "* ]]; then
  cp "$RUN/report.md" "$ROOT/bench/results/presence-latest.md"
fi
