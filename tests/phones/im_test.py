#!/usr/bin/env python3
"""An IM from a CAS client to a baresip phone and back (stdlib only).

    im_test.py SERVER_HOST SIP_PORT DOMAIN PHONE_USER PHONE_PASS CAS_USER CAS_PASS
               --cas http://HOST:HTTP_PORT [--workdir D] [--deadline 25]

PHONE_USER's baresip registers at SERVER_HOST:SIP_PORT as sip:PHONE_USER@DOMAIN
(UDP) with CAS_USER's AOR sip:CAS_USER@DOMAIN as its only contact. CAS_USER
logs in over HTTP (``POST /cas`` JSON, ``Authorization: Bearer``), then:

1. CAS → phone: ``im.send {to: PHONE_USER, text}`` is answered 0 with at least
   one device delivered, and the phone prints the text (the stdio UI line
   ``\\r<from-uri>: "<text>"``) with a From whose user is CAS_USER;
2. phone → CAS: the phone's ``message`` to sip:CAS_USER@DOMAIN gets 200 or 202
   (after its own answer to the 407), and CAS_USER's long-poll
   (``GET /cas/events?timeout=S``) receives ``{"topic":"im","message":
   "received","from":"PHONE_USER@...","text":...}``.

Prints one JSON line; exit 0 only if both directions worked. The whole run is
bounded (``--deadline``); baresip is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phone import Phone, Run, scenario_args  # noqa: E402


class CasError(Exception):
    pass


class Cas:
    """A logged-in CAS client over HTTP long-poll."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.token: str | None = None
        self.next_id = 1

    def _http(self, method: str, path: str, body: dict | None, timeout: float) -> dict:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:  # CAS errors come with their JSON body
            raw = e.read()
        try:
            return json.loads(raw)
        except json.JSONDecodeError as e:
            raise CasError(f"{method} {path}: not JSON: {raw[:200]!r}") from e

    def call(self, topic: str, message: str, timeout: float = 5.0, **fields) -> dict:
        msg = {"topic": topic, "message": message, "request_id": self.next_id, **fields}
        self.next_id += 1
        return self._http("POST", "/cas", msg, timeout)

    def login(self, user: str, password: str) -> None:
        r = self.call("session", "login", user=user, password=password)
        if r.get("response") != 0 or not r.get("session"):
            raise CasError(f"login as {user} failed: {r}")
        self.token = r["session"]

    def events(self, timeout: int) -> list[dict]:
        r = self._http("GET", f"/cas/events?timeout={timeout}", None, timeout + 5)
        if r.get("response") != 0:
            raise CasError(f"long-poll failed: {r}")
        return r.get("events") or []


def main() -> int:
    ap = scenario_args(__doc__, "SERVER_HOST SIP_PORT DOMAIN PHONE_USER PHONE_PASS CAS_USER CAS_PASS", 25.0)
    ap.add_argument("--cas", required=True, help="the CAS HTTP base, e.g. http://127.0.0.1:8080")
    o = ap.parse_args()
    host, port, domain, pu, pp, cu, cp = o.args
    run = Run(o.deadline, o.workdir, "im-test-")
    cas_aor = f"sip:{cu}@{domain}"
    phone = Phone("P", pu, pp, domain, host, int(port), "udp", run.work / "P", contacts=[cas_aor])
    run.watch(phone)
    cas = Cas(o.cas)
    nonce = f"{os.getpid()}-{int(time.time()) % 100000}"
    to_phone = f"hello {pu}, this is {cu} ({nonce})"
    to_cas = f"hi {cu}, {pu} here ({nonce})"
    info, left, check = run.info, run.left, run.check
    info.update(phone_aor=phone.aor, cas_aor=cas_aor)

    with run.steps(CasError):
        cas.login(cu, cp)
        check("cas_logged_in", True)
        phone.start(timeout=left(10))
        check("phone_registered", True)

        # 1. CAS → phone
        mark = phone.log_mark()
        r = cas.call("im", "send", to=pu, text=to_phone)
        info["im_send_reply"] = r
        check("cas_send_ok", r.get("response") == 0)
        check("cas_send_reached_device", (r.get("delivered") or {}).get("devices", 0) >= 1)
        got = phone.wait_message(left(10), since=mark, pred=lambda m: m["text"] == to_phone)
        info["phone_received"] = got
        check("phone_got_text", got is not None)
        check("phone_from_is_cas_user", re.match(rf"sips?:{re.escape(cu)}@", got["from"]) is not None)

        # 2. phone → CAS
        status = phone.send_message(cas_aor, to_cas, timeout=left(10))
        info["phone_send_status"] = status
        check("phone_send_accepted", status in (200, 202))
        ev = None
        deadline = time.monotonic() + left(10)
        seen = []
        while ev is None and time.monotonic() < deadline:
            wait = max(1, min(3, int(deadline - time.monotonic())))
            for e in cas.events(wait):
                seen.append({k: e.get(k) for k in ("topic", "message", "from", "text")})
                if e.get("topic") == "im" and e.get("message") == "received" and e.get("text") == to_cas:
                    ev = e
                    break
        info["cas_received"] = ev
        if ev is None:
            info["cas_events_seen"] = seen
        check("cas_got_text", ev is not None)
        check("cas_from_is_phone_user", str(ev.get("from", "")).split(":")[-1].startswith(f"{pu}@"))
    return run.finish(to_phone=to_phone, to_cas=to_cas)


if __name__ == "__main__":
    sys.exit(main())
