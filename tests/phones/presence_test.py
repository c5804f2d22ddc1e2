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
status its presence module derived from the last NOTIFY. Prints one JSON line; exit 0 only if every step was seen. Bounded by ``--deadline``;
baresip processes are stopped by their PID.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phone import Phone, PhoneError  # noqa: E402

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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("args", nargs=7, metavar="ARG",
                    help="SERVER_HOST SIP_PORT DOMAIN WATCHER WPASS PRESENTITY PPASS")
    ap.add_argument("--deadline", type=float, default=45.0, help="hard limit for the whole run")
    ap.add_argument("--workdir", help="keep everything here (default: a temp dir)")
    o = ap.parse_args()
    host, port, domain, wu, wp, pu, pp = o.args
    port = int(port)

    t0 = time.monotonic()
    work = Path(o.workdir) if o.workdir else Path(tempfile.mkdtemp(prefix="presence-test-"))
    work.mkdir(parents=True, exist_ok=True)
    b_aor = f"sip:{pu}@{domain}"
    b = PresencePhone("B", pu, pp, domain, host, port, "udp", work / pu, pubint=60)
    a = PresencePhone("A", wu, wp, domain, host, port, "udp", work / wu, watch=(b_aor,))
    checks: dict[str, bool] = {}
    info: dict = {"workdir": str(work)}

    expired = threading.Event()
    timer = threading.Timer(o.deadline, lambda: (expired.set(), a.kill(), b.kill()))
    timer.daemon = True
    timer.start()

    def left(cap: float) -> float:
        return max(0.1, min(cap, o.deadline - 3 - (time.monotonic() - t0)))

    def check(name: str, ok: bool) -> None:
        checks[name] = bool(ok)
        if not ok:
            raise PhoneError(f"check failed: {name}")

    try:
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
    except (PhoneError, OSError) as e:
        info["error"] = str(e) if not expired.is_set() else f"deadline {o.deadline}s reached: {e}"
    finally:
        info["a_statuses_seen"] = a.seen
        for p in (a, b):
            try:
                p.stop()
            except Exception as e:  # noqa: BLE001
                info[f"stop_error_{p.name}"] = str(e)
        timer.cancel()

    ok = bool(checks) and all(checks.values()) and "error" not in info
    summary = {"ok": ok, "elapsed_s": round(time.monotonic() - t0, 2), "checks": checks, **info}
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
