#!/usr/bin/env bash
# rtp-bench: capacity of an RTP relay on loopback (G.711, 20 ms, both
# directions of K concurrent calls), loss / added latency / relay CPU+RSS.
#
#   bench/rtp-bench.sh rtpengine [rtpbench options]
#       start rtpengine in userspace mode (--table=-1) pinned to RELAY_CPUS,
#       ramp K via the ng control protocol, run the no-relay baseline at the
#       best K, stop rtpengine by PID.
#   bench/rtp-bench.sh run NG_HOST:PORT -- RELAY COMMAND [ARGS...]
#       same for any relay that speaks the ng subset offer/answer/delete
#       (e.g. the future Rust relay): started pinned, stopped by PID.
#   bench/rtp-bench.sh external NG_HOST:PORT RELAY_PID [rtpbench options]
#       relay already running (not started/stopped here).
#   bench/rtp-bench.sh direct [rtpbench options]
#       no relay: the generator's own latency/loss floor.
#
#   env: RELAY_CPUS=0 GEN_CPUS=1 NG_PORT=22222 RTP_PORT_MIN=40000 RTP_PORT_MAX=45999
#        BENCH_NICE=-10 (default when root; relay and generator priority)
#   rtpbench options: --calls 100,200  --start-calls 50 --factor 2
#                     --step-secs 10 --max-total-secs 200 --max-p99-us 5000 ...
# Bounded: each step ~10 s, ramp <= --max-total-secs (default 200 s here).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
NICE=${BENCH_NICE:-$([[ $(id -u) -eq 0 ]] && echo -10 || echo 0)}
RELAY_CPUS=${RELAY_CPUS:-0}
GEN_CPUS=${GEN_CPUS:-1}
NG_PORT=${NG_PORT:-22222}
mode=${1:-}
[[ -n "$mode" ]] || { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
shift

stamp=$(date +%Y%m%d-%H%M%S)
outdir="${RTP_OUT:-$HERE/../results/rtp-$stamp-$mode}"
mkdir -p "$outdir"
relay_pid=""
logdir=$(mktemp -d "${TMPDIR:-/tmp}/rtp-bench.XXXXXX")
stop_relay() {
  [[ -n "$relay_pid" ]] || return 0
  if kill -0 "$relay_pid" 2>/dev/null; then
    kill -TERM "$relay_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$relay_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$relay_pid" 2>/dev/null && kill -KILL "$relay_pid" 2>/dev/null || true
  fi
  wait "$relay_pid" 2>/dev/null || true
  echo "rtp-bench: relay PID $relay_pid stopped (log: $logdir/relay.log)" >&2
  relay_pid=""
}
trap stop_relay EXIT
trap 'exit 130' INT TERM

gen() {  # run the generator pinned to GEN_CPUS
  nice -n "$NICE" taskset -c "$GEN_CPUS" python3 "$HERE/rtpbench.py" "$@"
}

start_relay() {  # $1 = ng host:port, rest = command
  local ng=$1; shift
  local port=${ng##*:}
  if ss -Huln "sport = :$port" | grep -q .; then
    echo "rtp-bench: UDP port $port already in use" >&2; exit 3
  fi
  nice -n "$NICE" taskset -c "$RELAY_CPUS" "$@" >"$logdir/relay.log" 2>&1 &
  relay_pid=$!
  for _ in $(seq 1 100); do
    kill -0 "$relay_pid" 2>/dev/null || { echo "relay died:"; tail "$logdir/relay.log"; exit 4; } >&2
    ss -Huln "sport = :$port" | grep -q . && break
    sleep 0.1
  done
  sleep 1
}

ramp_and_baseline() {  # $1 ng addr, $2 label, rest: rtpbench options
  local ng=$1 label=$2; shift 2
  gen --control "$ng" --relay-pid "$relay_pid" --label "$label" \
      --max-total-secs 200 --out "$outdir/relay.json" "$@"
  local best
  best=$(python3 -c "import json,sys; b=json.load(open(sys.argv[1]))['best']; print(b['calls'] if b else '')" "$outdir/relay.json")
  if [[ -n "$best" ]]; then
    echo "rtp-bench: baseline without relay at K=$best (generator floor):" >&2
    gen --control direct --label direct "$@" --calls "$best" --max-total-secs 30 \
        --out "$outdir/direct.json" 2>&1 | grep -v '^RESULT' >&2 || true
    python3 - "$outdir/relay.json" "$outdir/direct.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["best"]; d = json.load(open(sys.argv[2]))["steps"][-1]
print(f"ADDED LATENCY by the relay at K={r['calls']}: p50 {r['lat_p50_us']-d['lat_p50_us']:.0f} us, "
      f"p99 {r['lat_p99_us']-d['lat_p99_us']:.0f} us (relay p50/p99 {r['lat_p50_us']:.0f}/{r['lat_p99_us']:.0f}, "
      f"direct {d['lat_p50_us']:.0f}/{d['lat_p99_us']:.0f})")
PY
  fi
  echo "rtp-bench: results in $outdir" >&2
}

case "$mode" in
  rtpengine)
    command -v rtpengine >/dev/null || { echo "apt-get install -y rtpengine-daemon" >&2; exit 2; }
    rtpengine --version 2>&1 | head -1 >&2 || true
    start_relay "127.0.0.1:$NG_PORT" rtpengine --config-file=none --foreground --log-stderr -L 4 \
      --table=-1 --interface=127.0.0.1 --listen-ng="127.0.0.1:$NG_PORT" \
      --port-min="${RTP_PORT_MIN:-40000}" --port-max="${RTP_PORT_MAX:-45999}" \
      --num-threads="$(taskset -c "$RELAY_CPUS" nproc)" --delete-delay=0 --pidfile="$logdir/rtpengine.pid"
    ramp_and_baseline "127.0.0.1:$NG_PORT" rtpengine-userspace "$@" ;;
  run)
    ng=${1:?ng host:port}; shift
    [[ "${1:-}" == "--" ]] && shift
    start_relay "$ng" "$@"
    ramp_and_baseline "$ng" relay ;;
  external)
    ng=${1:?ng host:port}; relay_pid=${2:?relay pid}; shift 2
    ext_pid=$relay_pid; relay_pid=""   # never stop a relay we did not start
    relay_pid_saved=$ext_pid
    gen --control "$ng" --relay-pid "$relay_pid_saved" --label external \
        --max-total-secs 200 --out "$outdir/relay.json" "$@" ;;
  direct)
    gen --control direct --label direct --max-total-secs 200 --out "$outdir/direct.json" "$@" ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
