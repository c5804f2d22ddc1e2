"""Headless baresip 1.0.0 phone driven over ctrl_tcp (Python 3.11, stdlib only).

One Phone is one baresip process with its own config directory, SIP socket
(127.0.0.1, UDP+TCP on one port), ctrl_tcp socket and recordings. The
workarounds for baresip 1.0.0 are the ones listed in
/work/shared/phones/NOTES.md section 2:

* the accounts file stays empty and the account is added with ``uanew`` once
  the main loop runs (avoids the mwi.c subscribe storm; mwi is not loaded
  anyway);
* ausine only works at 48 kHz stereo, aufile needs a WAV at exactly
  ausrc_srate/ausrc_channels, so WAVs are converted first;
* ``net_interface 127.0.0.1`` (``lo`` fails) keeps SDP and RTP on loopback;
* ctrl_tcp accepts a single connection: this class keeps one, with a reader
  thread that sorts responses (by token) from events;
* stdin is a pipe that stays open (the stdio UI needs a readable stdin);
* ``statmode_default off`` silences the status line;
* ``audio_player aubridge,<unique>`` is a silent sink, and the sndfile filter
  records ``rec/dump-<time>-{enc,dec}.wav`` (dec = what this phone heard);
* ``message`` only sends to the *current contact*: the peers given as
  ``contacts`` are written to the contacts file and ``send_message`` walks to
  one with ``contact_next``/``contact_prev``. Its final response is read from
  the ``-s`` SIP trace in the log. An incoming MESSAGE is no ctrl_tcp event:
  the stdio UI prints ``\r<from-uri>: "<text>"``, which ``messages`` parses.

Processes are only ever stopped by their own PID.

The scenario scripts (``*_test.py``) share ``Run`` (workdir, checks, the
deadline watchdog, stopping every phone, the one-line JSON summary and exit
status), ``scenario_args`` (their common command line) and the tone helpers
``write_tone_wav``/``best_tone``.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import json
import math
import os
import re
import random
import signal
import socket
import subprocess
import tempfile
import threading
import time
import wave
from pathlib import Path

BARESIP = os.environ.get("BARESIP", "baresip")
MODULE_PATH = os.environ.get("BARESIP_MODULES", "/usr/lib/baresip/modules")


# one ``-s`` trace block: ESC[36;1m#, "UDP src -> dst", the message, ESC[;m
_TRACE_RE = re.compile(r"\x1b\[36;1m#\n(\w+) (\S+) -> (\S+)\n(.*?)\x1b\[;m", re.S)
# the menu module's print of an incoming MESSAGE: \r<from-uri>: "<text>"
_MESSAGE_RE = re.compile(r'^\r(sips?:[^\s"]+): "(.*?)"\n', re.S | re.M)


class PhoneError(Exception):
    """A phone did not do what it was asked in time."""


def free_port(udp_too: bool = True) -> int:
    """A port free for TCP (and UDP) on 127.0.0.1 right now, chosen below the kernel's
    ephemeral range so that outgoing connections of other programs cannot take it between
    this check and baresip's bind."""
    for _ in range(200):
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            port = random.randint(20000, 32000)
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            if udp_too:
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                finally:
                    udp.close()
            return port
        finally:
            tcp.close()
    raise PhoneError("no free port")


def convert_wav(src: Path, dst: Path, rate: int = 48000, channels: int = 2) -> None:
    """Write src (16-bit PCM WAV) as rate/channels 16-bit PCM (linear resampling)."""
    with wave.open(str(src), "rb") as w:
        if w.getsampwidth() != 2:
            raise PhoneError(f"{src}: only 16-bit PCM WAV is supported")
        sch, srate, n = w.getnchannels(), w.getframerate(), w.getnframes()
        raw = w.readframes(n)
    samples = array.array("h")
    samples.frombytes(raw)
    mono = [sum(samples[i * sch:(i + 1) * sch]) // sch for i in range(n)]
    out_n = int(n * rate / srate) if n else 0
    out = array.array("h")
    for i in range(out_n):
        pos = i * srate / rate
        j = int(pos)
        frac = pos - j
        a = mono[j] if j < n else 0
        b = mono[j + 1] if j + 1 < n else a
        v = int(a + (b - a) * frac)
        out.extend([v] * channels)
    with wave.open(str(dst), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(out.tobytes())


class Phone:
    """A baresip instance with one account.

    ``server_host``/``server_port`` is the registrar/proxy. With
    ``direct=True`` there is no server: the account has ``regint=0`` and
    calls go straight to another phone's ``contact_uri``.
    """

    def __init__(self, name: str, user: str, password: str, domain: str,
                 server_host: str | None, server_port: int | None,
                 transport: str = "udp", workdir: str | Path | None = None,
                 *, direct: bool = False, sine_hz: int = 440,
                 wav: str | Path | None = None, regint: int = 600,
                 sip_trace: bool = True, contacts: list[str] | tuple[str, ...] = ()) -> None:
        self.name = name
        self.user = user
        self.password = password
        self.domain = domain
        self.server_host = server_host
        self.server_port = server_port
        self.transport = transport.lower()
        self.direct = direct
        self.sine_hz = sine_hz
        self.wav = Path(wav) if wav else None
        self.regint = 0 if direct else regint
        self.sip_trace = sip_trace
        # peers for ``message`` (written to the contacts file; change before start())
        self.contacts: list[str] = list(contacts)
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"phone-{name}-"))
        self.confdir = self.workdir / "conf"
        self.recdir = self.workdir / "rec"
        self.logpath = self.workdir / "baresip.log"
        self.sip_port = 0
        self.ctrl_port = 0
        self.proc: subprocess.Popen | None = None
        self._log = None
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._cond = threading.Condition()
        self._events: list[dict] = []
        self._responses: dict[str, dict] = {}
        self._token = 0
        self._closed = False

    # ------------------------------------------------------------------ setup
    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.domain}"

    @property
    def contact_uri(self) -> str:
        """Where another phone can reach this one without a server."""
        return f"sip:{self.user}@127.0.0.1:{self.sip_port}"

    def account_line(self) -> str:
        aor = self.aor
        if self.transport != "udp":
            aor += f";transport={self.transport}"
        line = f"<{aor}>"
        if not self.direct:
            line += f";auth_user={self.user};auth_pass={self.password}"
            server = f"{self.server_host}:{self.server_port}"
            if self.domain != server:
                # no ';' inside: baresip 1.0 cuts the value at the first ';'
                line += f';outbound="sip:{server}"'
        line += f";regint={self.regint}"
        return line

    def _write_config(self) -> None:
        self.confdir.mkdir(parents=True, exist_ok=True)
        self.recdir.mkdir(parents=True, exist_ok=True)
        if self.wav:
            src = self.workdir / "source-48k-stereo.wav"
            convert_wav(self.wav, src)
            source = f"aufile,{src}"
            src_module = "aufile.so"
        else:
            source = f"ausine,{self.sine_hz}"
            src_module = "ausine.so"
        bridge = f"{self.name}-{os.getpid()}-{id(self):x}"
        cfg = f"""# written by tests/phones/phone.py
poll_method		epoll
sip_listen		127.0.0.1:{self.sip_port}
call_local_timeout	120
call_max_calls		4
audio_player		aubridge,{bridge}
audio_source		{source}
audio_alert		aubridge,{bridge}
ausrc_srate		48000
ausrc_channels		2
audio_level		no
rtp_stats		yes
net_interface		127.0.0.1
module_path		{MODULE_PATH}
module			stdio.so
module			g711.so
module			{src_module}
module			aubridge.so
module			sndfile.so
module_app		account.so
module_app		contact.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:{self.ctrl_port}
snd_path		{self.recdir}
statmode_default	off
"""
        (self.confdir / "config").write_text(cfg)
        (self.confdir / "accounts").write_text("")
        (self.confdir / "contacts").write_text(
            "".join(f"<{uri}>;presence=none\n" for uri in self.contacts))

    def start(self, timeout: float = 10.0) -> None:
        """Start baresip, connect ctrl_tcp, add the account, wait for REGISTER_OK."""
        deadline = time.monotonic() + timeout
        for attempt in range(3):
            self.sip_port = free_port(udp_too=True)
            self.ctrl_port = free_port(udp_too=False)
            self._write_config()
            args = [BARESIP, "-4", "-f", str(self.confdir)]
            if self.sip_trace:
                args.append("-s")
            self._log = open(self.logpath, "wb")
            self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=self._log,
                                         stderr=subprocess.STDOUT, cwd=self.workdir,
                                         start_new_session=True)
            try:
                self._connect(deadline)
                break
            except PhoneError:
                # Exit code 98 (EADDRINUSE): a port was taken after it was checked; retry.
                if attempt == 2 or self.proc.poll() != 98:
                    raise
                self._log.close()
        # one round trip proves the main loop runs; then give it 50 ms
        self.command("reginfo", timeout=max(0.5, deadline - time.monotonic()))
        time.sleep(0.05)
        self.command("uanew", self.account_line(), timeout=max(0.5, deadline - time.monotonic()))
        if not self.direct:
            ev = self.wait_event("REGISTER_OK", max(0.1, deadline - time.monotonic()),
                                 also_fail=("REGISTER_FAIL",))
            if ev is None or ev.get("type") != "REGISTER_OK":
                raise PhoneError(f"{self.name}: no REGISTER_OK ({ev})")

    def _connect(self, deadline: float) -> None:
        last = None
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise PhoneError(f"{self.name}: baresip exited with {self.proc.returncode}; see {self.logpath}")
            try:
                self._sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
                self._sock.settimeout(None)
                self._reader = threading.Thread(target=self._read_loop, daemon=True,
                                                name=f"ctrl-{self.name}")
                self._reader.start()
                return
            except OSError as e:
                last = e
                time.sleep(0.05)
        raise PhoneError(f"{self.name}: ctrl_tcp did not come up: {last}")

    # --------------------------------------------------------------- ctrl_tcp
    def _read_loop(self) -> None:
        buf = b""
        sock = self._sock
        while sock is not None:
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            buf += data
            while True:
                colon = buf.find(b":")
                if colon < 0:
                    break
                try:
                    n = int(buf[:colon])
                except ValueError:  # not a netstring: drop the garbage
                    buf = b""
                    break
                if len(buf) < colon + 1 + n + 1:
                    break
                payload = buf[colon + 1:colon + 1 + n]
                buf = buf[colon + 1 + n + 1:]  # skip the trailing ','
                try:
                    msg = json.loads(payload.decode("utf-8", "replace"))
                except json.JSONDecodeError:
                    continue
                with self._cond:
                    msg["_t"] = time.monotonic()
                    if msg.get("event"):
                        self._events.append(msg)
                    elif msg.get("response"):
                        self._responses[str(msg.get("token"))] = msg
                    self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def command(self, command: str, params: str | None = None, timeout: float = 5.0) -> dict:
        """Send a long menu command; return the response object."""
        if self._sock is None:
            raise PhoneError(f"{self.name}: not connected")
        with self._cond:
            self._token += 1
            token = f"{self.name}{self._token}"
        msg = {"command": command, "token": token}
        if params is not None:
            msg["params"] = params
        data = json.dumps(msg).encode()
        self._sock.sendall(str(len(data)).encode() + b":" + data + b",")
        deadline = time.monotonic() + timeout
        with self._cond:
            while token not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise PhoneError(f"{self.name}: no response to {command!r}")
                self._cond.wait(left)
            resp = self._responses.pop(token)
        if not resp.get("ok", False):
            raise PhoneError(f"{self.name}: {command} {params!r} failed: {resp.get('data')}")
        return resp

    def events(self) -> list[dict]:
        with self._cond:
            return list(self._events)

    def wait_event(self, type_: str, timeout: float, *, since: int = 0,
                   also_fail: tuple[str, ...] = (), pred=None) -> dict | None:
        """First event of ``type_`` (or of a type in ``also_fail``) at index >= since.

        Returns None on timeout. Events are never consumed: pass ``since`` (e.g.
        ``len(phone.events())`` taken before the action) to skip older ones.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self._events[since:]:
                    if ev.get("type") in (type_, *also_fail) and (pred is None or pred(ev)):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return None
                self._cond.wait(left)

    # ---------------------------------------------------------------- actions
    def dial(self, uri: str) -> dict:
        return self.command("dial", uri)

    def accept(self) -> dict:
        return self.command("accept")

    def hangup(self) -> dict:
        return self.command("hangup")

    def send_dtmf(self, digits: str) -> dict:
        return self.command("sndcode", digits)

    def recordings(self) -> dict[str, list[Path]]:
        """{'enc': [...], 'dec': [...]} WAVs written by sndfile, oldest first."""
        out: dict[str, list[Path]] = {"enc": [], "dec": []}
        for p in sorted(self.recdir.glob("dump-*.wav"), key=lambda p: p.stat().st_mtime):
            kind = "dec" if p.stem.endswith("-dec") else "enc" if p.stem.endswith("-enc") else None
            if kind:
                out[kind].append(p)
        return out

    def stop(self, timeout: float = 3.0) -> None:
        """quit, then SIGTERM, then SIGKILL, always by this phone's PID."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None and self._sock is not None:
            try:
                self.command("quit", timeout=1.0)
            except PhoneError:
                pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # this PID only
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(2)
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        if proc.stdin:
            try:
                proc.stdin.close()
            except OSError:
                pass
        if self._log:
            self._log.close()
            self._log = None

    # -------------------------------------------------------------- messaging
    def log_mark(self) -> int:
        """The log size now: pass it as ``since`` to look only at later output."""
        try:
            return self.logpath.stat().st_size
        except OSError:
            return 0

    def _log_text(self, since: int = 0) -> str:
        try:
            with open(self.logpath, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def current_contact(self) -> int | None:
        """Index (in the contacts file order) of baresip's current contact."""
        data = self.command("contacts").get("data", "")
        rows = [ln for ln in data.splitlines() if ln.startswith((">", "   ")) and "<" in ln]
        for i, ln in enumerate(rows):
            if ln.startswith(">"):
                return i
        return None

    def select_contact(self, uri: str) -> None:
        """Make ``uri`` (one of ``self.contacts``) the current contact."""
        if uri not in self.contacts:
            raise PhoneError(f"{self.name}: {uri} is not in the contacts given at start: {self.contacts}")
        want = self.contacts.index(uri)
        cur = self.current_contact()
        if cur is None:
            raise PhoneError(f"{self.name}: baresip has no current contact")
        data = ""
        steps = want - cur
        for _ in range(abs(steps)):
            data = self.command("contact_next" if steps > 0 else "contact_prev").get("data", "")
        if steps and f"<{uri}>" not in data:
            raise PhoneError(f"{self.name}: could not select {uri}: {data.strip()!r}")
        if self.current_contact() != want:
            raise PhoneError(f"{self.name}: could not select {uri}")

    def trace_messages(self, since: int = 0) -> list[dict]:
        """The SIP messages of the ``-s`` trace in the log after offset ``since``.

        Each is ``{"transport", "src", "dst", "incoming", "start", "cseq_method",
        "status" (responses), "method" (requests), "call_id", "text"}``. The trace
        does not say which way a message went; it is inferred: with a server,
        incoming = sent by the server's address; without one, incoming = sent to
        this phone's SIP port.
        """
        out = []
        server = f"{self.server_host}:{self.server_port}" if self.server_host else None
        for m in _TRACE_RE.finditer(self._log_text(since)):
            transport, src, dst, text = m.group(1), m.group(2), m.group(3), m.group(4)
            start = text.split("\r\n", 1)[0].strip()
            if server and not self.direct:
                incoming = src == server
            else:
                incoming = dst.rsplit(":", 1)[-1] == str(self.sip_port)
            msg = {"transport": transport, "src": src, "dst": dst, "incoming": incoming,
                   "start": start, "text": text}
            if start.startswith("SIP/2.0 "):
                try:
                    msg["status"] = int(start.split()[1])
                except (IndexError, ValueError):
                    continue
            else:
                msg["method"] = start.split(" ", 1)[0]
            hm = re.search(r"(?im)^CSeq:\s*\d+\s+(\S+)", text)
            msg["cseq_method"] = hm.group(1).upper() if hm else None
            hm = re.search(r"(?im)^(?:Call-ID|i):\s*(\S+)", text)
            msg["call_id"] = hm.group(1) if hm else None
            out.append(msg)
        return out

    def send_message(self, uri: str, text: str, timeout: float = 10.0) -> int | None:
        """Send a text/plain MESSAGE to ``uri`` (one of ``self.contacts``).

        Returns the final SIP status (after baresip's own answer to a 401/407),
        or None if none arrived within ``timeout``.
        """
        if "\n" in text or "\r" in text:
            raise PhoneError(f"{self.name}: send_message takes one line of text")
        if not self.sip_trace:
            raise PhoneError(f"{self.name}: send_message needs sip_trace=True (the status is read from it)")
        self.select_contact(uri)
        since = self.log_mark()
        self.command("message", text)
        deadline = time.monotonic() + timeout
        while True:
            trace = self.trace_messages(since)
            ours = {m["call_id"] for m in trace
                    if not m["incoming"] and m.get("method") == "MESSAGE"}
            challenges = 0
            for m in trace:
                if not (m["incoming"] and m.get("status", 0) >= 200
                        and m["cseq_method"] == "MESSAGE" and m["call_id"] in ours):
                    continue
                if m["status"] in (401, 407):
                    challenges += 1
                    if challenges < 2:
                        continue  # baresip answers the challenge itself
                return m["status"]
            if time.monotonic() >= deadline or (self.proc and self.proc.poll() is not None):
                return None
            time.sleep(0.05)

    def messages(self, since: int = 0) -> list[dict]:
        """MESSAGEs this phone received (printed by the stdio UI) after log offset ``since``.

        Each is ``{"from": <From URI>, "text": <body>}``, oldest first.
        """
        return [{"from": m.group(1), "text": m.group(2)}
                for m in _MESSAGE_RE.finditer(self._log_text(since))]

    def wait_message(self, timeout: float, *, since: int = 0, pred=None) -> dict | None:
        """First received MESSAGE after ``since`` (a ``log_mark()``) matching ``pred``."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages(since):
                if pred is None or pred(m):
                    return m
            if time.monotonic() >= deadline or (self.proc and self.proc.poll() is not None):
                return None
            time.sleep(0.05)

    def kill(self) -> None:
        """Hard stop by PID (for watchdogs)."""
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# ------------------------------------------------------------------ analysis
def wav_stats(path: Path, skip_s: float = 0.5) -> dict:
    """RMS (0..32767), peak and a zero-crossing frequency estimate of channel 0."""
    with wave.open(str(path), "rb") as w:
        ch, rate, width, n = w.getnchannels(), w.getframerate(), w.getsampwidth(), w.getnframes()
        raw = w.readframes(n)
    if width != 2:
        return {"file": str(path), "error": f"sample width {width}"}
    a = array.array("h")
    a.frombytes(raw)
    mono = a[0::ch]
    start = min(len(mono), int(skip_s * rate))
    body = mono[start:]
    if not body:
        return {"file": str(path), "rate": rate, "seconds": 0.0, "rms": 0.0, "peak": 0, "freq_hz": 0.0}
    rms = math.sqrt(sum(x * x for x in body) / len(body))
    crossings = sum(1 for i in range(1, len(body)) if (body[i - 1] < 0) != (body[i] < 0))
    return {
        "file": str(path),
        "rate": rate,
        "seconds": round(len(mono) / rate, 2),
        "rms": round(rms, 1),
        "peak": max(abs(x) for x in body),
        "freq_hz": round(crossings / 2 / (len(body) / rate), 1),
    }


def best_tone(path: Path, freq: float) -> float:
    """The largest share of energy at ``freq`` over half-second windows of channel 0
    (Goertzel); 0.0 for silence."""
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


def write_tone_wav(path: Path, silence_s: float, tone_s: float, hz: float = 440) -> None:
    """An 8 kHz mono WAV: ``silence_s`` of silence, then ``tone_s`` of a sine at ``hz``."""
    rate = 8000
    out = array.array("h", [0] * int(silence_s * rate))
    out.extend(int(12000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(int(tone_s * rate)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(out.tobytes())


# ------------------------------------------------------------------ scenarios
def scenario_args(doc: str, positional: str, deadline: float, **extra) -> argparse.ArgumentParser:
    """The command line every scenario shares: the positional arguments named in
    ``positional`` (space separated), ``--workdir`` and ``--deadline``. ``extra`` adds
    options: ``greeting=(float, 1.5, "help")`` becomes ``--greeting``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = positional.split()
    ap.add_argument("args", nargs=len(names), metavar="ARG", help=positional)
    ap.add_argument("--workdir", help="keep everything here (default: a temp dir)")
    ap.add_argument("--deadline", type=float, default=deadline, help="hard limit for the whole run")
    for name, (type_, default, help_) in extra.items():
        ap.add_argument(f"--{name}", type=type_, default=default, help=help_)
    return ap


def established(ev: dict | None) -> bool:
    """``ev`` (from ``wait_event(..., also_fail=("CALL_CLOSED",))``) is CALL_ESTABLISHED."""
    return ev is not None and ev.get("type") == "CALL_ESTABLISHED"


class Run:
    """One scenario run: its workdir, named checks, free-form ``info``, a watchdog that
    kills every phone (by PID) at ``deadline`` seconds, and the JSON summary.

    ``left(cap)`` is a timeout of at most ``cap`` that still ends ``margin`` seconds before
    the deadline; ``check(name, ok)`` records a check and raises PhoneError when it failed;
    ``steps()`` wraps the scenario: a PhoneError/OSError (or one of ``errors``) ends it
    with ``info["error"]``, and every phone is stopped afterwards. ``finish(**extra)``
    prints ``{"ok", "elapsed_s", "checks", **extra, **info, "events"}`` on one line and
    returns the exit status (0 only if every check passed and nothing failed).
    """

    def __init__(self, deadline: float, workdir: str | None, prefix: str, margin: float = 2.0) -> None:
        self.t0 = time.monotonic()
        self.deadline = deadline
        self.margin = margin
        self.work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=prefix))
        self.work.mkdir(parents=True, exist_ok=True)
        self.checks: dict[str, bool] = {}
        self.info: dict = {"workdir": str(self.work)}
        self.phones: list[Phone] = []
        self.expired = threading.Event()
        self._timer = threading.Timer(deadline, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self.expired.set()
        for ph in self.phones:
            ph.kill()

    def watch(self, *phones: Phone) -> None:
        """Phones the watchdog kills and ``steps()`` stops."""
        self.phones.extend(phones)

    def left(self, cap: float) -> float:
        return max(0.1, min(cap, self.deadline - self.margin - (time.monotonic() - self.t0)))

    def check(self, name: str, ok: bool) -> bool:
        self.checks[name] = bool(ok)
        if not ok:
            raise PhoneError(f"check failed: {name}")
        return True

    @contextlib.contextmanager
    def steps(self, *errors: type[Exception]):
        try:
            yield self
        except (PhoneError, OSError, *errors) as e:
            self.info["error"] = str(e) if not self.expired.is_set() \
                else f"deadline {self.deadline}s reached: {e}"
        finally:
            for ph in self.phones:
                try:
                    ph.stop()
                except Exception as e:  # noqa: BLE001 - keep stopping the others
                    self.info.setdefault("stop_errors", []).append(f"{ph.name}: {e}")
            self._timer.cancel()

    def finish(self, **extra) -> int:
        ok = bool(self.checks) and all(self.checks.values()) and "error" not in self.info
        self.info["events"] = {ph.name: [ev.get("type") for ev in ph.events()] for ph in self.phones}
        print(json.dumps({"ok": ok, "elapsed_s": round(time.monotonic() - self.t0, 2),
                          "checks": self.checks, **extra, **self.info}))
        return 0 if ok else 1


# ------------------------------------------------------------- voicemail steps
def leave_voicemail(run: Run, caller: Phone, callee: Phone, domain: str, message_s: float) -> None:
    """``caller`` (playing a WAV of ``message_s`` seconds) calls ``callee``, which rings and
    does not answer; voicemail answers and the caller hangs up when its WAV ends.
    Checks b_rang, a_answered_by_voicemail, a_hung_up_at_eof."""
    na, nb = len(caller.events()), len(callee.events())
    caller.dial(f"sip:{callee.user}@{domain}")
    run.check("b_rang", callee.wait_event("CALL_INCOMING", run.left(10), since=nb) is not None)
    ea = caller.wait_event("CALL_ESTABLISHED", run.left(15), since=na, also_fail=("CALL_CLOSED",))
    run.check("a_answered_by_voicemail", established(ea))
    ca = caller.wait_event("CALL_CLOSED", run.left(message_s + 8), since=na)
    run.info["a_closed"] = ca.get("param") if ca else None
    run.check("a_hung_up_at_eof", ca is not None)


def play_and_delete(run: Run, phone: Phone, domain: str, pin: str, listen_s: float) -> int:
    """``phone`` dials the mailbox (``*98``), sends ``pin#``, ``1`` (play new), listens
    ``listen_s`` seconds and sends ``7`` (delete); the call stays up. Checks
    b_vm_established; returns the event index before the dial (for ``hang_up_heard``)."""
    nb = len(phone.events())
    phone.dial(f"sip:*98@{domain}")
    eb = phone.wait_event("CALL_ESTABLISHED", run.left(10), since=nb, also_fail=("CALL_CLOSED",))
    run.check("b_vm_established", established(eb))
    time.sleep(0.8)
    phone.send_dtmf(pin + "#")
    time.sleep(1.5)
    phone.send_dtmf("1")
    time.sleep(listen_s)
    phone.send_dtmf("7")
    return nb


def hang_up_heard(run: Run, phone: Phone, since: int, hz: float) -> None:
    """``phone`` hangs up; what it heard (its last sndfile ``dec`` recording) must carry
    ``hz`` (check b_heard_tone)."""
    phone.hangup()
    phone.wait_event("CALL_CLOSED", run.left(5), since=since)
    time.sleep(0.3)  # sndfile closes its files when the call goes
    dec = phone.recordings()["dec"]
    run.info["b_recordings"] = [str(p) for p in dec]
    share = best_tone(dec[-1], hz) if dec else 0.0
    run.info["b_best_tone_share"] = round(share, 3)
    run.check("b_heard_tone", share > 0.5)
