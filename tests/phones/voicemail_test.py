#!/usr/bin/env python3
"""Voicemail with two headless baresip phones.

    voicemail_test.py SERVER_HOST SERVER_PORT DOMAIN USER_A PASS_A USER_B PASS_B PIN [--workdir D]

A calls B; B rings but does not answer, so the server's voicemail answers after the ring
timeout. A's audio source is a WAV: silence while the greeting plays, then a 440 Hz tone;
when the file ends baresip hangs up (that keeps the message). Then B dials the voicemail
number (*98), sends its PIN and ``1`` (play new messages) as RFC 4733 DTMF, listens (its
sndfile ``dec`` recording is what it heard), sends ``7`` (delete) and hangs up.

Checks: b_incoming (B was rung), a_answered_by_voicemail, a_hung_up_at_eof,
b_vm_established, b_heard_tone (the 440 Hz tone is in what B heard). Prints one JSON line;
exit 0 only if every check passed. Bounded (60 s); every baresip is stopped by PID.
"""

from __future__ import annotations

import argparse
import array
import json
import math
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phone import Phone, PhoneError  # noqa: E402

TONE_HZ = 440


def write_message_wav(path: Path, silence_s: float, tone_s: float) -> None:
    rate = 8000
    out = array.array("h", [0] * int(silence_s * rate))
    out.extend(int(12000 * math.sin(2 * math.pi * TONE_HZ * i / rate)) for i in range(int(tone_s * rate)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(out.tobytes())


def tone_share(samples, rate: int, freq: float) -> float:
    n = len(samples)
    if n == 0:
        return 0.0
    k = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    energy = 0.0
    for x in samples:
        energy += x * x
        s0 = x + k * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    return 0.0 if energy == 0 else 2 * power / (energy * n)


def best_tone(path: Path, freq: float) -> float:
    with wave.open(str(path), "rb") as w:
        ch, rate, n = w.getnchannels(), w.getframerate(), w.getnframes()
        raw = w.readframes(n)
    a = array.array("h")
    a.frombytes(raw)
    mono = a[0::ch]
    win = rate // 2
    return max((tone_share(mono[i:i + win], rate, freq) for i in range(0, max(1, len(mono) - win), win)),
               default=0.0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("args", nargs=8)
    ap.add_argument("--workdir")
    ap.add_argument("--greeting", type=float, default=9.0, help="seconds of silence before the tone")
    ap.add_argument("--tone", type=float, default=3.0, help="seconds of tone (the message)")
    ap.add_argument("--listen", type=float, default=12.0, help="seconds B listens after pressing 1")
    ap.add_argument("--deadline", type=float, default=60.0)
    o = ap.parse_args()
    host, port, domain, ua, pa, ub, pb, pin = o.args
    port = int(port)
    t0 = time.monotonic()
    work = Path(o.workdir) if o.workdir else Path(tempfile.mkdtemp(prefix="vm-test-"))
    work.mkdir(parents=True, exist_ok=True)
    msg = work / "message.wav"
    write_message_wav(msg, o.greeting, o.tone)
    a = Phone("A", ua, pa, domain, host, port, "udp", work / "A", wav=msg)
    b = Phone("B", ub, pb, domain, host, port, "udp", work / "B", sine_hz=880)
    checks: dict[str, bool] = {}
    info: dict = {"workdir": str(work)}
    timer = threading.Timer(o.deadline, lambda: (a.kill(), b.kill()))
    timer.daemon = True
    timer.start()

    def check(name: str, ok: bool) -> None:
        checks[name] = bool(ok)
        if not ok:
            raise PhoneError(f"check failed: {name}")

    try:
        a.start(timeout=10)
        b.start(timeout=10)
        na, nb = len(a.events()), len(b.events())
        a.dial(f"sip:{ub}@{domain}")
        check("b_incoming", b.wait_event("CALL_INCOMING", 10, since=nb) is not None)
        ea = a.wait_event("CALL_ESTABLISHED", 15, since=na, also_fail=("CALL_CLOSED",))
        check("a_answered_by_voicemail", ea is not None and ea.get("type") == "CALL_ESTABLISHED")
        ca = a.wait_event("CALL_CLOSED", o.greeting + 10, since=na)
        info["a_closed"] = ca.get("param") if ca else None
        check("a_hung_up_at_eof", ca is not None)
        time.sleep(1.0)  # the message is stored after the hang-up

        nb = len(b.events())
        b.dial(f"sip:*98@{domain}")
        eb = b.wait_event("CALL_ESTABLISHED", 10, since=nb, also_fail=("CALL_CLOSED",))
        check("b_vm_established", eb is not None and eb.get("type") == "CALL_ESTABLISHED")
        time.sleep(1.0)
        b.send_dtmf(pin + "#")
        time.sleep(1.5)
        b.send_dtmf("1")
        time.sleep(o.listen)
        b.send_dtmf("7")
        time.sleep(2.0)
        b.hangup()
        b.wait_event("CALL_CLOSED", 5, since=nb)
        time.sleep(0.3)
        dec = b.recordings()["dec"]
        info["b_recordings"] = [str(p) for p in dec]
        share = best_tone(dec[-1], TONE_HZ) if dec else 0.0
        info["b_best_tone_share"] = round(share, 3)
        check("b_heard_tone", share > 0.5)
    except (PhoneError, OSError) as e:
        info["error"] = str(e)
    finally:
        for ph in (a, b):
            try:
                ph.stop()
            except Exception as e:  # noqa: BLE001
                info.setdefault("stop_errors", []).append(f"{ph.name}: {e}")
        timer.cancel()
    ok = bool(checks) and all(checks.values()) and "error" not in info
    info["events"] = {ph.name: [ev.get("type") for ev in ph.events()] for ph in (a, b)}
    print(json.dumps({"ok": ok, "elapsed_s": round(time.monotonic() - t0, 2), "checks": checks, **info}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
