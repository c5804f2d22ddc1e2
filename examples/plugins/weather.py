#!/usr/bin/env python3
"""An example CAS plug-in: serves the topic `weather` for every client of a Switchboard server.

A plug-in is an ordinary program that connects to `ws://HOST:PORT/cas/plugin`, presents the
credential an administrator issued (`admin.plugin_credential {"name": "weather"}`), registers
the topics it serves and then answers the requests clients send to those topics. It sees who
is asking and with which permissions, may answer later (`pending`), and may push events to a
user's sessions. The protocol is described in docs/cas-guide.md ("Plug-ins").

Python 3 standard library only; the WebSocket client (RFC 6455: handshake, masked frames,
ping/pong, close) is in this file so the example runs anywhere.

    python3 examples/plugins/weather.py --url ws://127.0.0.1:8080/cas/plugin \\
        --name weather --credential SECRET [--topic weather] [--delay 5]

Messages served (topic `weather`):
    forecast {city, days?}    a made-up forecast for the city (days 1..7, default 3)
    slow {city?}              the same, but only after --delay seconds (to see timeouts)
    later {city, after_ms?}   answers `pending` at once and completes later (async)
    alert_me {text?, count?}  pushes `count` `weather.alert` events to the caller's sessions,
                              then replies
Every reply echoes `caller` ({user, permissions}) as the server presented them.

stdout carries one line per protocol step (welcome, registered, refused, error) so scripts and
tests can follow; the exit status is 0 when the server closes the connection, 1 when the
connection or the credential fails, 2 when none of the topics could be registered.
"""

import argparse
import base64
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import zlib
from urllib.parse import urlparse

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 16 << 20
SKIES = ["sunny", "cloudy", "rain", "showers", "snow", "fog", "wind", "thunderstorms"]


class WebSocketError(Exception):
    pass


class WebSocket:
    """A minimal RFC 6455 client: one connection, text messages, thread-safe sending."""

    def __init__(self, url, timeout=10.0):
        u = urlparse(url)
        if u.scheme != "ws" or not u.hostname:
            raise WebSocketError(f"only ws://HOST:PORT/PATH URLs are supported, not {url!r}")
        port = u.port or 80
        path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        self.sock = socket.create_connection((u.hostname, port), timeout=timeout)
        self.send_lock = threading.Lock()
        self.buf = b""
        self.closed = False
        key = base64.b64encode(os.urandom(16)).decode()
        host = u.hostname if ":" not in u.hostname else f"[{u.hostname}]"
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        head = self._read_head()
        lines = head.split("\r\n")
        if len(lines[0].split()) < 2 or lines[0].split()[1] != "101":
            raise WebSocketError(f"handshake refused: {lines[0]}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise WebSocketError("handshake: wrong Sec-WebSocket-Accept")
        self.sock.settimeout(None)

    def _read_head(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise WebSocketError("connection closed during the handshake")
            self.buf += chunk
            if len(self.buf) > 65536:
                raise WebSocketError("handshake response too long")
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return head.decode("latin-1")

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise WebSocketError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _send_frame(self, opcode, payload):
        # Client frames are always masked (RFC 6455 §5.3).
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        with self.send_lock:
            if self.closed and opcode != OP_CLOSE:
                raise WebSocketError("connection closed")
            self.sock.sendall(header + mask + masked)

    def send_text(self, text):
        self._send_frame(OP_TEXT, text.encode("utf-8"))

    def ping(self, payload=b""):
        self._send_frame(OP_PING, payload)

    def close(self, code=1000):
        if self.closed:
            return
        try:
            self._send_frame(OP_CLOSE, struct.pack("!H", code))
        except OSError:
            pass
        self.closed = True

    def recv_text(self):
        """The next text message, or None once the connection is closed."""
        parts, opcode = [], None
        while True:
            try:
                b0, b1 = self._read_exact(2)
            except (OSError, WebSocketError):
                self.closed = True
                return None
            fin, op = b0 & 0x80, b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", self._read_exact(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", self._read_exact(8))
            if n > MAX_MESSAGE:
                raise WebSocketError("frame too large")
            mask = self._read_exact(4) if b1 & 0x80 else None
            payload = self._read_exact(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if op == OP_PING:
                self._send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                self.close()
                self.closed = True
                return None
            if op in (OP_TEXT, OP_BINARY):
                parts, opcode = [payload], op
            elif op == OP_CONT and opcode is not None:
                parts.append(payload)
            else:
                raise WebSocketError(f"unexpected opcode {op}")
            if sum(len(p) for p in parts) > MAX_MESSAGE:
                raise WebSocketError("message too large")
            if fin:
                return b"".join(parts).decode("utf-8", errors="replace")


def say(*words):
    print(*words, flush=True)


def error(code, message):
    return {"response": code, "error": {"code": code, "message": message}}


def forecast(city, days):
    """A deterministic made-up forecast: the same city always gets the same weather."""
    seed = zlib.crc32(city.lower().encode())
    out = []
    for d in range(days):
        v = (seed >> (d % 24)) ^ (seed * (d + 1))
        low = (v % 25) - 5
        out.append({"day": d, "sky": SKIES[v % len(SKIES)], "low_c": low,
                    "high_c": low + 3 + (v // 7) % 9})
    return out


class Weather:
    def __init__(self, ws, args):
        self.ws = ws
        self.args = args

    def send(self, msg):
        self.ws.send_text(json.dumps(msg))

    def reply(self, rid, body):
        self.send({"type": "reply", "id": rid, "reply": body})

    def on_request(self, msg):
        rid, request = msg["id"], msg.get("request", {})
        caller = {"user": msg.get("user"), "permissions": msg.get("permissions", [])}
        try:
            body = self.answer(rid, request, caller)
        except (KeyError, TypeError, ValueError) as e:
            body = error(400, f"bad request: {e}")
        if body is not None:
            body.setdefault("response", 0)
            body["caller"] = caller
            self.reply(rid, body)

    def answer(self, rid, request, caller):
        message = request.get("message")
        city = request.get("city", "Nowhere")
        if not isinstance(city, str) or not city:
            return error(400, "field 'city' must be a non-empty string")
        if message == "forecast":
            days = request.get("days", 3)
            if not isinstance(days, int) or not 1 <= days <= 7:
                return error(400, "field 'days' must be an integer from 1 to 7")
            return {"city": city, "forecast": forecast(city, days), "served_by": self.args.name}
        if message == "slow":
            time.sleep(self.args.delay)
            return {"city": city, "forecast": forecast(city, 1), "slow": True}
        if message == "later":
            after = request.get("after_ms", 200)
            if not isinstance(after, int) or not 0 <= after <= 60000:
                return error(400, "field 'after_ms' must be an integer from 0 to 60000")
            self.reply(rid, {"response": 0, "pending": True})
            time.sleep(after / 1000)
            return {"city": city, "forecast": forecast(city, 1), "late_by_ms": after}
        if message == "alert_me":
            text = request.get("text", "storm warning")
            count = request.get("count", 1)
            if not isinstance(count, int) or not 1 <= count <= 5000:
                return error(400, "field 'count' must be an integer from 1 to 5000")
            # The events go first: when the client has the reply, its alerts are delivered.
            for n in range(count):
                self.send({"type": "event", "user": caller["user"],
                           "event": {"topic": "weather", "message": "alert",
                                     "text": text, "n": n}})
            return {"alerts": count}
        return error(404, f"unknown message weather.{message}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True, help="ws://HOST:PORT/cas/plugin")
    p.add_argument("--name", default="weather", help="the plug-in name of the credential")
    p.add_argument("--credential", required=True, help="from admin.plugin_credential")
    p.add_argument("--topic", action="append", help="topic to register (repeatable)")
    p.add_argument("--delay", type=float, default=5.0, help="seconds weather.slow waits")
    p.add_argument("--keepalive", type=float, default=30.0, help="seconds between pings")
    args = p.parse_args()
    topics = args.topic or ["weather"]

    try:
        ws = WebSocket(args.url)
    except (OSError, WebSocketError) as e:
        say("error", f"cannot connect: {e}")
        return 1
    signal.signal(signal.SIGTERM, lambda *_: (ws.close(), os._exit(0)))
    ws.send_text(json.dumps({"type": "hello", "name": args.name, "credential": args.credential}))
    first = ws.recv_text()
    welcome = json.loads(first) if first else {}
    if welcome.get("type") != "welcome":
        say("error", welcome.get("message", "connection closed"))
        return 1
    say("welcome", welcome.get("name"))
    ws.send_text(json.dumps({"type": "register", "topics": topics}))

    def keepalive():
        while not ws.closed:
            time.sleep(args.keepalive)
            try:
                ws.ping(b"keepalive")
            except (OSError, WebSocketError):
                return

    threading.Thread(target=keepalive, daemon=True).start()
    plugin = Weather(ws, args)
    while True:
        text = ws.recv_text()
        if text is None:
            say("closed")
            return 0
        msg = json.loads(text)
        kind = msg.get("type")
        if kind == "registered":
            for t in msg.get("topics", []):
                say("registered", t)
            for r in msg.get("refused", []):
                say("refused", r.get("topic"), r.get("reason"))
            if not msg.get("topics"):
                ws.close()
                return 2
        elif kind == "request":
            # One thread per request: a slow answer never holds up the others.
            threading.Thread(target=plugin.on_request, args=(msg,), daemon=True).start()
        elif kind == "error":
            say("error", msg.get("message"))


if __name__ == "__main__":
    sys.exit(main())
