#!/usr/bin/env python3
"""Message-waiting (RFC 3842) on a real baresip phone (stdlib only).

    mwi_test.py SERVER_HOST SERVER_PORT DOMAIN USER_A PASS_A USER_B PASS_B PIN
                [--workdir D] [--greeting 1.5] [--tone 1.5] [--listen 3] [--deadline 25]

B's baresip loads its ``mwi`` module and SUBSCRIBEs to its own ``message-summary``
(NOTES.md §1.8). The mwi.c subscribe storm (NOTES.md §2) is avoided the way phone.py avoids
it: the module is loaded from the config while the accounts file is still empty, so its 1 ms
start timer finds no UA; the account (``;mwi=yes``) is added later with ``uanew`` and the
module subscribes once, on REGISTER_OK.

1. A calls B; B rings but does not answer; the server's voicemail answers after the ring
   timeout; A's WAV (silence during the greeting, then a 440 Hz tone) ends and A hangs up,
   which keeps the message.
2. B's phone receives a NOTIFY whose body says ``Messages-Waiting: yes`` and
   ``Voice-Message: 1/0`` (ctrl_tcp ``MWI_NOTIFY`` event, body as ``param``).
3. B dials the voicemail number (*98), sends the PIN, ``1`` (play new) and hears the tone,
   then ``7`` (delete).
4. B's phone receives ``Messages-Waiting: no`` with ``Voice-Message: 0/0``.

Checks: b_subscribed (SUBSCRIBE Event: message-summary answered 2xx, exactly once per
registration: no storm), b_rang, a_answered_by_voicemail, a_hung_up_at_eof,
b_mwi_yes_1_new, b_vm_established, b_heard_tone, b_mwi_no_after_delete. Prints one JSON
line (with every MWI body B's phone showed); exit 0 only if every check passed. Bounded by
``--deadline``; every baresip is stopped by its PID. Steps 1 and 3 are phone.py's
(``leave_voicemail``, ``play_and_delete``, ``hang_up_heard``).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phone import (  # noqa: E402
    Phone, Run, hang_up_heard, leave_voicemail, play_and_delete, scenario_args, write_tone_wav,
)

TONE_HZ = 440


class MwiPhone(Phone):
    """A Phone whose baresip runs the ``mwi`` module (subscribes to ``message-summary``)."""

    def account_line(self) -> str:
        return super().account_line() + ";mwi=yes"

    def _write_config(self) -> None:
        super()._write_config()
        # Loaded at start, while there is no UA yet: the module's 1 ms timer walks an empty
        # list. phone.py adds the account only after a ctrl_tcp round trip plus 50 ms.
        with open(self.confdir / "config", "a") as f:
            f.write("module_app\t\tmwi.so\n")

    def mwi_bodies(self, since: int = 0) -> list[str]:
        """The message-summary bodies this phone reported (``MWI_NOTIFY``), oldest first."""
        return [str(ev.get("param") or "") for ev in self.events()[since:]
                if ev.get("type") == "MWI_NOTIFY"]

    def wait_mwi(self, pred, timeout: float, since: int = 0) -> str | None:
        ev = self.wait_event("MWI_NOTIFY", timeout, since=since,
                             pred=lambda e: pred(str(e.get("param") or "")))
        return str(ev.get("param")) if ev else None

    def subscribes(self) -> list[dict]:
        """Outgoing message-summary SUBSCRIBEs (initial, refresh) in the SIP trace."""
        return [m for m in self.trace_messages()
                if not m["incoming"] and m.get("method") == "SUBSCRIBE"
                and re.search(r"(?im)^(Event|o):\s*message-summary", m["text"])]


def summary_says(body: str, waiting: str, new: int, old: int) -> bool:
    """RFC 3842 §5.2: ``Messages-Waiting: <waiting>`` and ``Voice-Message: new/old``."""
    w = re.search(r"(?im)^Messages-Waiting:\s*(\w+)", body)
    v = re.search(r"(?im)^Voice-Message:\s*(\d+)/(\d+)", body)
    return bool(w and v and w.group(1).lower() == waiting
                and (int(v.group(1)), int(v.group(2))) == (new, old))


def main() -> int:
    o = scenario_args(__doc__, "SERVER_HOST SERVER_PORT DOMAIN USER_A PASS_A USER_B PASS_B PIN", 25.0,
                      greeting=(float, 1.5, "seconds of silence before the tone"),
                      tone=(float, 1.5, "seconds of tone (the message)"),
                      listen=(float, 3.0, "seconds B listens after pressing 1")).parse_args()
    host, port, domain, ua, pa, ub, pb, pin = o.args
    run = Run(o.deadline, o.workdir, "mwi-test-", margin=1.0)
    msg = run.work / "message.wav"
    write_tone_wav(msg, o.greeting, o.tone, TONE_HZ)
    a = Phone("A", ua, pa, domain, host, int(port), "udp", run.work / "A", wav=msg)
    b = MwiPhone("B", ub, pb, domain, host, int(port), "udp", run.work / "B", sine_hz=880)
    run.watch(a, b)
    info = run.info
    with run.steps():
        try:
            b.start(timeout=run.left(10))
            a.start(timeout=run.left(10))
            # The SUBSCRIBE goes out on REGISTER_OK; its answer is in the trace.
            deadline = time.monotonic() + run.left(5)
            subscribed = False
            while not subscribed and time.monotonic() < deadline:
                subs = {m["call_id"] for m in b.subscribes()}
                subscribed = any(m["incoming"] and 200 <= m.get("status", 0) < 300
                                 and m["cseq_method"] == "SUBSCRIBE" and m["call_id"] in subs
                                 for m in b.trace_messages())
                time.sleep(0.05)
            run.check("b_subscribed", subscribed)

            nb = len(b.events())
            leave_voicemail(run, a, b, domain, o.greeting + o.tone)
            yes = b.wait_mwi(lambda body: summary_says(body, "yes", 1, 0), run.left(6), since=nb)
            info["mwi_yes_body"] = yes
            run.check("b_mwi_yes_1_new", yes is not None)

            nb = play_and_delete(run, b, domain, pin, o.listen)
            no = b.wait_mwi(lambda body: summary_says(body, "no", 0, 0), run.left(6), since=nb)
            info["mwi_no_body"] = no
            hang_up_heard(run, b, nb, TONE_HZ)
            run.check("b_mwi_no_after_delete", no is not None)
        finally:
            info["b_mwi_bodies"] = b.mwi_bodies()
            try:
                info["b_subscribes"] = len(b.subscribes())
            except OSError:
                pass
    # No storm: one SUBSCRIBE and its answer to the 407 challenge (plus the un-SUBSCRIBE and
    # its challenge at shutdown), never hundreds.
    run.checks["b_no_subscribe_storm"] = info.get("b_subscribes", 999) <= 6
    return run.finish()


if __name__ == "__main__":
    sys.exit(main())
