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
``--deadline``; every baresip is stopped by its PID.
"""

from __future__ import annotations

import argparse
import array
import json
import math
import re
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phone import Phone, PhoneError  # noqa: E402

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


def write_message_wav(path: Path, silence_s: float, tone_s: float) -> None:
    rate = 8000
    out = array.array("h", [0] * int(silence_s * rate))
    out.extend(int(12000 * math.sin(2 * math.pi * TONE_HZ * i / rate)) for i in range(int(tone_s * rate)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(out.tobytes())


def best_tone(path: Path, freq: float) -> float:
    """The largest share of energy at ``freq`` over half-second windows (Goertzel)."""
    with wave.open(str(path), "rb") as w:
        ch, rate, n = w.getnchannels(), w.getframerate(), w.getnframes()
        raw = w.readframes(n)
    a = array.array("h")
    a.frombytes(raw)
    mono = a[0::ch]
    win = rate // 2
    k = 2 * math.cos(2 * math.pi * freq / rate)
    best = 0.0
    for i in range(0, max(1, len(mono) - win), win):
        s1 = s2 = energy = 0.0
        for x in mono[i:i + win]:
            energy += x * x
            s1, s2 = x + k * s1 - s2, s1
        if energy:
            best = max(best, 2 * (s1 * s1 + s2 * s2 - k * s1 * s2) / (energy * win))
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("args", nargs=8, metavar="ARG",
                    help="SERVER_HOST SERVER_PORT DOMAIN USER_A PASS_A USER_B PASS_B PIN")
    ap.add_argument("--workdir")
    ap.add_argument("--greeting", type=float, default=1.5, help="seconds of silence before the tone")
    ap.add_argument("--tone", type=float, default=1.5, help="seconds of tone (the message)")
    ap.add_argument("--listen", type=float, default=3.0, help="seconds B listens after pressing 1")
    ap.add_argument("--deadline", type=float, default=25.0)
    o = ap.parse_args()
    host, port, domain, ua, pa, ub, pb, pin = o.args
    port = int(port)
    t0 = time.monotonic()
    work = Path(o.workdir) if o.workdir else Path(tempfile.mkdtemp(prefix="mwi-test-"))
    work.mkdir(parents=True, exist_ok=True)
    msg = work / "message.wav"
    write_message_wav(msg, o.greeting, o.tone)
    a = Phone("A", ua, pa, domain, host, port, "udp", work / "A", wav=msg)
    b = MwiPhone("B", ub, pb, domain, host, port, "udp", work / "B", sine_hz=880)
    checks: dict[str, bool] = {}
    info: dict = {"workdir": str(work)}
    timer = threading.Timer(o.deadline, lambda: (a.kill(), b.kill()))
    timer.daemon = True
    timer.start()

    def left(cap: float) -> float:
        return max(0.1, min(cap, o.deadline - 1 - (time.monotonic() - t0)))

    def check(name: str, ok: bool) -> None:
        checks[name] = bool(ok)
        if not ok:
            raise PhoneError(f"check failed: {name}")

    try:
        b.start(timeout=left(10))
        a.start(timeout=left(10))
        # The SUBSCRIBE goes out on REGISTER_OK; its answer is in the trace.
        deadline = time.monotonic() + left(5)
        subscribed = False
        while not subscribed and time.monotonic() < deadline:
            subs = {m["call_id"] for m in b.subscribes()}
            subscribed = any(m["incoming"] and 200 <= m.get("status", 0) < 300
                             and m["cseq_method"] == "SUBSCRIBE" and m["call_id"] in subs
                             for m in b.trace_messages())
            time.sleep(0.05)
        check("b_subscribed", subscribed)

        na, nb = len(a.events()), len(b.events())
        a.dial(f"sip:{ub}@{domain}")
        check("b_rang", b.wait_event("CALL_INCOMING", left(8), since=nb) is not None)
        ea = a.wait_event("CALL_ESTABLISHED", left(10), since=na, also_fail=("CALL_CLOSED",))
        check("a_answered_by_voicemail", ea is not None and ea.get("type") == "CALL_ESTABLISHED")
        ca = a.wait_event("CALL_CLOSED", left(o.greeting + o.tone + 6), since=na)
        check("a_hung_up_at_eof", ca is not None)

        yes = b.wait_mwi(lambda body: summary_says(body, "yes", 1, 0), left(6), since=nb)
        info["mwi_yes_body"] = yes
        check("b_mwi_yes_1_new", yes is not None)

        nb = len(b.events())
        b.dial(f"sip:*98@{domain}")
        eb = b.wait_event("CALL_ESTABLISHED", left(8), since=nb, also_fail=("CALL_CLOSED",))
        check("b_vm_established", eb is not None and eb.get("type") == "CALL_ESTABLISHED")
        time.sleep(0.8)
        b.send_dtmf(pin + "#")
        time.sleep(1.5)
        b.send_dtmf("1")
        time.sleep(o.listen)
        b.send_dtmf("7")
        no = b.wait_mwi(lambda body: summary_says(body, "no", 0, 0), left(6), since=nb)
        info["mwi_no_body"] = no
        b.hangup()
        b.wait_event("CALL_CLOSED", left(3), since=nb)
        time.sleep(0.2)
        dec = b.recordings()["dec"]
        share = best_tone(dec[-1], TONE_HZ) if dec else 0.0
        info["b_best_tone_share"] = round(share, 3)
        check("b_heard_tone", share > 0.5)
        check("b_mwi_no_after_delete", no is not None)
    except (PhoneError, OSError) as e:
        info["error"] = str(e)
    finally:
        info["b_mwi_bodies"] = b.mwi_bodies()
        try:
            info["b_subscribes"] = len(b.subscribes())
        except OSError:
            pass
        for ph in (a, b):
            try:
                ph.stop()
            except Exception as e:  # noqa: BLE001
                info.setdefault("stop_errors", []).append(f"{ph.name}: {e}")
        timer.cancel()
    # No storm: one SUBSCRIBE and its answer to the 407 challenge (plus the un-SUBSCRIBE and
    # its challenge at shutdown), never hundreds.
    checks["b_no_subscribe_storm"] = info.get("b_subscribes", 999) <= 6
    ok = bool(checks) and all(checks.values()) and "error" not in info
    info["events"] = {ph.name: [ev.get("type") for ev in ph.events()] for ph in (a, b)}
    print(json.dumps({"ok": ok, "elapsed_s": round(time.monotonic() - t0, 2), "checks": checks, **info}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
