#!/usr/bin/env bash
# bench/rtp/run.sh: RTP relay, switchboard's media engine against rtpengine (userspace,
# --table=-1) in ONE run. Both relays run at the same time, pinned to the same CPU
# (RELAY_CPUS, default 0); the generator (rtpbench.py, G.711 20 ms, both directions of K
# calls) runs on GEN_CPUS (default 1). For every K the steps are interleaved: rtpengine,
# switchboard, no relay (the generator's floor), so machine noise hits both relays alike.
# Then the CPU cost of one recording (ng-relay record-cost). Writes
# bench/results/rtp-run-<time>/ (every step's JSON, logs, report.md) and
# bench/results/rtp-latest.md.
#
#   bench/rtp/run.sh [--calls "100 200 400 800"] [--secs 10] [--rounds 3] [--at "100 200"]
#                    [--no-build] [--quick]
#
# --rounds R: each K in --at (the headline figures; K calls = 2K streams) is measured R
# times (median reported).
# Needs: apt-get install -y rtpengine-daemon python3. Run as root for nice -n -10.
# Ports (env): RTPE_NG=22232 (RTP 50000-53999), SB_NG=22242 (RTP 54000-57999),
# generator 58000-58255. Every process started here is stopped by its PID; bounded.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
calls="100 200 400 800" secs=10 rounds=3 at="100 200" build=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --calls) calls=$2; shift 2 ;;
    --secs) secs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --at) at=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --quick) calls="100 200 400"; secs=6; rounds=2; at=200; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
NICE=${BENCH_NICE:-$([[ $(id -u) -eq 0 ]] && echo -10 || echo 0)}
RELAY_CPUS=${RELAY_CPUS:-0}
GEN_CPUS=${GEN_CPUS:-1}
RTPE_NG=${RTPE_NG:-22232}
SB_NG=${SB_NG:-22242}
RUN="$ROOT/bench/results/rtp-run-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUN"
command -v rtpengine >/dev/null || { echo "apt-get install -y rtpengine-daemon" >&2; exit 2; }

pids=()
stop_pid() {
  local p=$1
  kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
}
cleanup() { for p in "${pids[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ $build -eq 1 ]]; then
  (cd "$ROOT" && cargo build --release -p media-server --example ng-relay)
fi
cp "$ROOT/target/release/examples/ng-relay" "$RUN/ng-relay"
{
  echo "commit $(git -C "$ROOT" rev-parse --short HEAD)"
  echo "dirty $(git -C "$ROOT" status --porcelain -- crates/media-server crates/media crates/rtp crates/sdp | wc -l) files in media crates"
  echo "ng-relay sha256 $(sha256sum "$RUN/ng-relay" | cut -c1-16)"
  rtpengine --version 2>&1 | head -1
  echo "nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo)"
} >"$RUN/build.txt"

start() {  # name ng_port -- command...
  local name=$1 port=$2; shift 3
  if ss -Huln "sport = :$port" | grep -q .; then echo "UDP port $port in use" >&2; exit 3; fi
  timeout 1800 nice -n "$NICE" taskset -c "$RELAY_CPUS" "$@" >"$RUN/$name.log" 2>&1 &
  local p=$!; pids+=("$p")
  for _ in $(seq 1 100); do
    kill -0 "$p" 2>/dev/null || { echo "$name died:" >&2; tail "$RUN/$name.log" >&2; exit 4; }
    ss -Huln "sport = :$port" | grep -q . && break
    sleep 0.1
  done
  # timeout(1) is the parent: measure the relay itself.
  local child
  child=$(awk '{print $1}' "/proc/$p/task/$p/children" 2>/dev/null || true)
  started=${child:-$p}
}
start rtpengine "$RTPE_NG" -- rtpengine --config-file=none --foreground \
  --log-stderr -L 4 --table=-1 --interface=127.0.0.1 --listen-ng="127.0.0.1:$RTPE_NG" \
  --port-min=50000 --port-max=53999 --num-threads="$(taskset -c "$RELAY_CPUS" nproc)" \
  --delete-delay=0 --pidfile="$RUN/rtpengine.pid"
rtpe_pid=$started
start switchboard "$SB_NG" -- "$RUN/ng-relay" serve --ng "127.0.0.1:$SB_NG" \
  --ports 54000-57999 --threads "$(taskset -c "$RELAY_CPUS" nproc)"
sb_pid=$started
echo "run.sh: rtpengine PID $rtpe_pid, ng-relay PID $sb_pid; results in $RUN" >&2
sleep 1

n=0
step() {  # label control pid K round
  local label=$1 control=$2 pid=$3 k=$4 r=$5
  local base=$((58000 + 4 * (n % 64))); n=$((n + 1))
  local extra=()
  [[ -n "$pid" ]] && extra=(--relay-pid "$pid")
  nice -n "$NICE" taskset -c "$GEN_CPUS" timeout $((secs * 4 + 60)) python3 "$HERE/../rtpbench.py" \
    --control "$control" "${extra[@]}" --label "$label" --calls "$k" --step-secs "$secs" \
    --max-loss-pct 0.000001 --max-p99-us 1e12 --max-total-secs $((secs * 3 + 30)) \
    --base-port "$base" --out "$RUN/$label-K$k-r$r.json" 2>&1 | grep -v '^RESULT' | sed "s/^/[$label] /" >&2 || true
  sleep 1
}
round_of() {  # K round
  step rtpengine "127.0.0.1:$RTPE_NG" "$rtpe_pid" "$1" "$2"
  step switchboard "127.0.0.1:$SB_NG" "$sb_pid" "$1" "$2"
  step direct direct "" "$1" "$2"
}
for k in $calls; do
  round_of "$k" 1
  if [[ " $at " == *" $k "* ]]; then
    for r in $(seq 2 "$rounds"); do round_of "$k" "$r"; done
  fi
done
cleanup; pids=()

echo "run.sh: recording cost (ng-relay record-cost, 20 streams, ${secs}s + ${secs}s)" >&2
timeout $((secs * 3 + 60)) nice -n "$NICE" taskset -c "$RELAY_CPUS" "$RUN/ng-relay" record-cost \
  --streams 20 --secs "$secs" --dir "$RUN" --ports 54000-57999 >"$RUN/record-cost.txt" \
  2>"$RUN/record-cost.err" || echo "record-cost failed (see $RUN/record-cost.err)" >&2
cat "$RUN/record-cost.txt" >&2

python3 "$HERE/report.py" "$RUN" --at "${at// /,}" | tee "$RUN/report.md"
cp "$RUN/report.md" "$ROOT/bench/results/rtp-latest.md"
