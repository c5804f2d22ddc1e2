#!/usr/bin/env python3
"""Presence between two baresip phones through the server (stdlib only).

    presence_test.py SERVER_HOST SIP_PORT DOMAIN WATCHER WPASS PRESENTITY PPASS
                     [--workdir D] [--deadline 45]

1. PRESENTITY's phone (B) registers with ``pubint`` set and loads the presence module
   after REGISTER_OK (phones/NOTES.md §2), then ``presence_online``: it PUBLISHes open.
2. WATCHER's phone (A) registers with B's AOR as a ``presence=p2p`` contact and loads the
   presence module: it SUBSCRIBEs (no Accept header) and shows B **Online**.
3. B ``presence_offline`` → A shows **Offline**; ``presence_online`` → **Online** again.
4. A calls B; while B rings and talks, A shows B **Busy**; after the hang-up, **Online**.

A's view is read with the ctrl_tcp ``contacts`` command, which lists each contact with the
status its presence module derived from the last NOTIFY. Prints one JSON line; exit 0 only
if every step was seen. Bounded by ``--deadline``; baresip processes are stopped by their
PID (phone.py's ``Run``).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phone import Phone, Run, scenario_args  # noqa: E402

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class PresencePhone(Phone):
    """A Phone with the presence module: publishes (``pubint``) and watches ``watch``."""

    def __init__(self, *args, watch: tuple[str, ...] = (), pubint: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.watch = list(watch)
        self.pubint = pubint
        self.seen: list[str] = []

    def account_line(self) -> str:
        line = super().account_line()
        if self.pubint:
            line += f";pubint={self.pubint}"
        return line

    def _write_config(self) -> None:
        super()._write_config()
        rows = [f"<{uri}>;presence=p2p\n" for uri in self.watch]
        rows += [f"<{uri}>;presence=none\n" for uri in self.contacts]
        (self.confdir / "contacts").write_text("".join(rows))

    def start(self, timeout: float = 10.0) -> None:
        super().start(timeout)
        # After REGISTER_OK: the publisher only knows UAs that exist when it loads.
        self.command("insmod", "presence")
        if self.pubint:
            self.command("presence_online")

    def status(self, uri_user: str) -> str | None:
        """What this phone shows now for the contact whose user is ``uri_user`` (the
        ``contacts`` command: ``Online``, ``Offline``, ``Busy`` or ``Unknown``)."""
        data = _ANSI.sub("", self.command("contacts").get("data") or "")
        for line in data.splitlines():
            m = re.search(rf"(\w+)\s+<sips?:{re.escape(uri_user)}@", line)
            if m:
                return m.group(1)
        return None

    def wait_status(self, uri_user: str, want: str, timeout: float) -> bool:
        """Polls until the status shown for ``uri_user`` is ``want``; every distinct status
        seen is kept in ``self.seen``."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.status(uri_user)
            if s and (not self.seen or self.seen[-1] != s):
                self.seen.append(s)
            if s and s.lower() == want.lower():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)


def main() -> int:
    o = scenario_args(__doc__, "SERVER_HOST SIP_PORT DOMAIN WATCHER WPASS PRESENTITY PPASS", 45.0).parse_args()
    host, port, domain, wu, wp, pu, pp = o.args
    run = Run(o.deadline, o.workdir, "presence-test-", margin=3.0)
    b_aor = f"sip:{pu}@{domain}"
    b = PresencePhone("B", pu, pp, domain, host, int(port), "udp", run.work / "B", pubint=60)
    a = PresencePhone("A", wu, wp, domain, host, int(port), "udp", run.work / "A", watch=(b_aor,))
    run.watch(a, b)
    left, check = run.left, run.check
    with run.steps():
        b.start(timeout=left(10))
        a.start(timeout=left(10))
        check("a_sees_b_online", a.wait_status(pu, "Online", left(8)))
        b.command("presence_offline")
        check("a_sees_b_offline", a.wait_status(pu, "Offline", left(8)))
        b.command("presence_online")
        check("a_sees_b_online_again", a.wait_status(pu, "Online", left(8)))

        a.dial(b_aor)
        check("b_rings", b.wait_event("CALL_INCOMING", left(8)) is not None)
        check("a_sees_b_busy_while_ringing", a.wait_status(pu, "Busy", left(8)))
        b.accept()
        check("call_established", a.wait_event("CALL_ESTABLISHED", left(8)) is not None)
        time.sleep(0.5)
        check("a_sees_b_busy_on_call", a.status(pu) == "Busy")
        a.hangup()
        check("a_sees_b_online_after_call", a.wait_status(pu, "Online", left(8)))
    return run.finish(a_statuses_seen=a.seen)


if __name__ == "__main__":
    sys.exit(main())
