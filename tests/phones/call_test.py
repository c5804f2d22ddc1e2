#!/usr/bin/env python3
"""Two headless baresip phones make one call and check it end to end.

    call_test.py SERVER_HOST SERVER_PORT DOMAIN USER_A PASS_A USER_B PASS_B [--transport udp]
    call_test.py --direct            (no server: A calls B at B's own address)

Checks, in order: both register (not in --direct); A dials sip:B@DOMAIN; B
gets CALL_INCOMING and accepts; both see CALL_ESTABLISHED; ~3 s of audio
(A sends a 440 Hz sine, B 880 Hz); A sends DTMF 1234# and B reports a
CALL_DTMF_START for each digit; A hangs up and B sees CALL_CLOSED; each
side's sndfile "dec" recording (what it heard) is not silent and carries the
other side's tone. Prints one JSON line; exit 0 only if every check passed.
The whole run is bounded (40 s by default); every baresip is stopped by PID.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phone import Phone, Run, established, wav_stats  # noqa: E402

DTMF = "1234#"
RMS_MIN = 1000.0  # of 32767; a sine from ausine is far above, silence is ~0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("args", nargs="*", help="SERVER_HOST SERVER_PORT DOMAIN USER_A PASS_A USER_B PASS_B")
    ap.add_argument("--transport", default="udp", choices=["udp", "tcp"])
    ap.add_argument("--direct", action="store_true", help="no server: call B's own address")
    ap.add_argument("--talk", type=float, default=3.0, help="seconds of audio before DTMF")
    ap.add_argument("--deadline", type=float, default=40.0, help="hard limit for the whole run")
    ap.add_argument("--workdir", help="keep everything here (default: a temp dir)")
    o = ap.parse_args()

    if o.direct:
        host, port, domain = None, None, "127.0.0.1"
        ua, pa, ub, pb = "alice", "", "bob", ""
    else:
        if len(o.args) != 7:
            ap.error("need SERVER_HOST SERVER_PORT DOMAIN USER_A PASS_A USER_B PASS_B (or --direct)")
        host, port, domain, ua, pa, ub, pb = o.args
        port = int(port)

    run = Run(o.deadline, o.workdir, "call-test-")
    work = run.work
    a = Phone("A", ua, pa, domain, host, port, o.transport, work / "A", direct=o.direct, sine_hz=440)
    b = Phone("B", ub, pb, domain, host, port, o.transport, work / "B", direct=o.direct, sine_hz=880)
    run.watch(a, b)
    info, left, check = run.info, run.left, run.check
    info.update(mode="direct" if o.direct else "server", transport=o.transport)

    with run.steps():
        a.start(timeout=left(10))
        b.start(timeout=left(10))
        check("registered" if not o.direct else "started", True)

        target = b.contact_uri if o.direct else f"sip:{ub}@{domain}"
        info["target"] = target
        na, nb = len(a.events()), len(b.events())
        a.dial(target)
        inc = b.wait_event("CALL_INCOMING", left(10), since=nb)
        check("b_call_incoming", inc is not None)
        info["b_incoming_peer"] = inc.get("peeruri")
        b.accept()
        ea = a.wait_event("CALL_ESTABLISHED", left(10), since=na, also_fail=("CALL_CLOSED",))
        eb = b.wait_event("CALL_ESTABLISHED", left(10), since=nb, also_fail=("CALL_CLOSED",))
        check("a_established", established(ea))
        check("b_established", established(eb))

        time.sleep(min(o.talk, left(o.talk)))

        nb = len(b.events())
        a.send_dtmf(DTMF)
        got = ""
        deadline = time.monotonic() + left(8)
        while len(got) < len(DTMF) and time.monotonic() < deadline:
            ev = b.wait_event("CALL_DTMF_START", deadline - time.monotonic(), since=nb)
            if ev is None:
                break
            nb = b.events().index(ev) + 1
            got += str(ev.get("param", ""))
        info["dtmf_received"] = got
        check("b_dtmf_1234#", got == DTMF)

        na, nb = len(a.events()), len(b.events())
        a.hangup()
        cb = b.wait_event("CALL_CLOSED", left(10), since=nb)
        ca = a.wait_event("CALL_CLOSED", left(5), since=na)
        info["b_closed_reason"] = cb.get("param") if cb else None
        check("b_call_closed", cb is not None)
        check("a_call_closed", ca is not None)

        time.sleep(0.3)  # sndfile closes its files when the call goes
        audio = {}
        for ph, heard_hz in ((a, 880), (b, 440)):
            rec = ph.recordings()
            if not rec["dec"]:
                audio[ph.name] = {"error": "no dec recording"}
                continue
            st = wav_stats(rec["dec"][-1])
            st["expected_hz"] = heard_hz
            audio[ph.name] = st
        info["heard"] = audio
        for name in ("A", "B"):
            st = audio.get(name, {})
            check(f"{name.lower()}_heard_audio", st.get("rms", 0) >= RMS_MIN)
            exp = st.get("expected_hz", 0)
            check(f"{name.lower()}_heard_peer_tone",
                  exp and abs(st.get("freq_hz", 0) - exp) <= 0.1 * exp)
    return run.finish()


if __name__ == "__main__":
    sys.exit(main())
