#!/usr/bin/env bash
# Self-test of the scenarios in tests/sipp/ with no server: each scenario
# runs against a sipp peer on 127.0.0.1 (peers are in this folder or are
# the UAS scenarios themselves). Exit 0 when every pair passes.
# Usage: tests/sipp/selftest/run.sh [workdir]     (needs sipp on PATH)
set -u
here="$(cd "$(dirname "$0")" && pwd)"
sc="$(dirname "$here")"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
cd "$work" || exit 2
base=${SIPP_SELFTEST_BASE_PORT:-25060}
R=$base; U=$((base + 10)); C=$((base + 20))
common=(-nostdin -m 1 -timeout 30s -timeout_error -trace_err -trace_msg -key domain selftest.invalid)
pass=0; fail=0; pids=()

# run NAME EXPECTED_RC SIPP-ARGS...   (in the background)
start() {
  local name=$1; shift
  sipp "${common[@]}" "$@" >"$name.out" 2>"$name.err" &
  pids+=($!); eval "pid_$name=$!"
}
finish() {            # finish NAME
  local name=$1 pidvar="pid_$1" rc
  wait "${!pidvar}"; rc=$?
  if [ "$rc" -eq 0 ]; then pass=$((pass + 1)); echo "ok   $name";
  else fail=$((fail + 1)); echo "FAIL $name (sipp exit $rc, see $work/$name.*)"; fi
}
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT

# 1. register-auth against a challenging registrar
start reg_peer -sf "$here/fake-registrar.xml" -p $R
sleep 0.3
start register_auth 127.0.0.1:$R -sf "$sc/register-auth.xml" -key user alice -au alice -ap secret -p $C
finish register_auth; finish reg_peer

# 2. uac-call -> uas-answer (no challenge)
start uas_answer -sf "$sc/uas-answer.xml" -p $U
sleep 0.3
start uac_call 127.0.0.1:$U -sf "$sc/uac-call.xml" -key user alice -s bob -au alice -ap secret -d 500 -p $C
finish uac_call; finish uas_answer

# 3. uac-call -> a UAS that challenges with 407 first
start uas_chal -sf "$here/uas-challenge-answer.xml" -p $U
sleep 0.3
start uac_call_407 127.0.0.1:$U -sf "$sc/uac-call.xml" -key user alice -s bob -au alice -ap secret -d 500 -p $C
finish uac_call_407; finish uas_chal

# 4. uac-cancel -> uas-ring
start uas_ring -sf "$sc/uas-ring.xml" -p $U
sleep 0.3
start uac_cancel 127.0.0.1:$U -sf "$sc/uac-cancel.xml" -key user alice -s bob -au alice -ap secret -p $C
finish uac_cancel; finish uas_ring

# 5. uac-noanswer -> a UAS that gives up with 480
start uas_480 -sf "$here/uas-noanswer-480.xml" -p $U
sleep 0.3
start uac_noanswer 127.0.0.1:$U -sf "$sc/uac-noanswer.xml" -key user alice -s bob -au alice -ap secret -p $C
finish uac_noanswer; finish uas_480

# 6. uas-busy
start uas_busy -sf "$sc/uas-busy.xml" -p $U
sleep 0.3
start uac_busy 127.0.0.1:$U -sf "$here/uac-expect-busy.xml" -key user alice -s bob -p $C
finish uac_busy; finish uas_busy

# 7. one sipp process registers (uas-register.xml) and answers the call on
#    the same socket (-oocsf uas-answer.xml); the caller dials its port.
start reg_peer2 -sf "$here/fake-registrar.xml" -p $R
sleep 0.3
start uas_reg_answer 127.0.0.1:$R -sf "$sc/uas-register.xml" -oocsf "$sc/uas-answer.xml" -key user bob -au bob -ap secret -p $U
sleep 0.5
start uac_call_reg 127.0.0.1:$U -sf "$sc/uac-call.xml" -key user alice -s bob -au alice -ap secret -d 500 -p $C
finish uac_call_reg; finish uas_reg_answer; finish reg_peer2

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
