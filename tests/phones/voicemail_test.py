#!/usr/bin/env python3
"""Voicemail with two headless baresip phones.

    voicemail_test.py SERVER_HOST SERVER_PORT DOMAIN USER_A PASS_A USER_B PASS_B PIN
                      [--workdir D] [--greeting 9] [--tone 3] [--listen 12] [--deadline 60]

A calls B; B rings but does not answer, so the server's voicemail answers after the ring
timeout. A's audio source is a WAV: silence while the greeting plays, then a 440 Hz tone;
when the file ends baresip hangs up (that keeps the message). Then B dials the voicemail
number (*98), sends its PIN and ``1`` (play new messages) as RFC 4733 DTMF, listens (its
sndfile ``dec`` recording is what it heard), sends ``7`` (delete) and hangs up.

Checks: b_rang (B was rung), a_answered_by_voicemail, a_hung_up_at_eof,
b_vm_established, b_heard_tone (the 440 Hz tone is in what B heard). Prints one JSON line;
exit 0 only if every check passed. Bounded by ``--deadline``; every baresip is stopped by
PID. The steps are phone.py's (``leave_voicemail``, ``play_and_delete``, ``hang_up_heard``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phone import (  # noqa: E402
    Phone, Run, hang_up_heard, leave_voicemail, play_and_delete, scenario_args, write_tone_wav,
)

TONE_HZ = 440


def main() -> int:
    o = scenario_args(__doc__, "SERVER_HOST SERVER_PORT DOMAIN USER_A PASS_A USER_B PASS_B PIN", 60.0,
                      greeting=(float, 9.0, "seconds of silence before the tone"),
                      tone=(float, 3.0, "seconds of tone (the message)"),
                      listen=(float, 12.0, "seconds B listens after pressing 1")).parse_args()
    host, port, domain, ua, pa, ub, pb, pin = o.args
    run = Run(o.deadline, o.workdir, "vm-test-", margin=1.0)
    msg = run.work / "message.wav"
    write_tone_wav(msg, o.greeting, o.tone, TONE_HZ)
    a = Phone("A", ua, pa, domain, host, int(port), "udp", run.work / "A", wav=msg)
    b = Phone("B", ub, pb, domain, host, int(port), "udp", run.work / "B", sine_hz=880)
    run.watch(a, b)
    with run.steps():
        a.start(timeout=run.left(10))
        b.start(timeout=run.left(10))
        leave_voicemail(run, a, b, domain, o.greeting + o.tone)
        time.sleep(1.0)  # the message is stored after the hang-up
        nb = play_and_delete(run, b, domain, pin, o.listen)
        time.sleep(2.0)
        hang_up_heard(run, b, nb, TONE_HZ)
    return run.finish()


if __name__ == "__main__":
    sys.exit(main())
