#!/usr/bin/env python3
"""Presence fan-out benchmark client (bench/presence/run.sh drives it).

N watchers SUBSCRIBE (Event: presence) to one presentity over UDP on loopback,
each answering its NOTIFYs with 200. Then one PUBLISH changes the presentity,
R times; for each, the time until every watcher has received its NOTIFY and the
server's CPU (user+sys of its whole process tree, from /proc) are measured.
Memory per subscription = (PSS after subscribing - PSS before) / N.

Loopback only, bounded: every wait has a timeout. Prints one JSON object.
"""
import argparse
import json
import os
import random
import socket
import sys
import time

CLK = os.sysconf("SC_CLK_TCK")


def tree(pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return pids


def cpu_seconds(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK


def pss_kib(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def parse(data):
    try:
        text = data.decode("utf-8", "replace")
    except Exception:
        return None
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    if not lines:
        return None
    start = lines[0]
    hdrs = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            hdrs.setdefault(name.strip().lower(), []).append(value.strip())
    return start, hdrs, body


COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "o": "event"}


def hdr(hdrs, name):
    v = hdrs.get(name)
    if v is None:
        for short, long in COMPACT.items():
            if long == name and short in hdrs:
                v = hdrs[short]
    return v or []


def reply_200(sock, addr, hdrs):
    rows = ["SIP/2.0 200 OK"]
    for v in hdr(hdrs, "via"):
        rows.append(f"Via: {v}")
    for name in ("from", "to", "call-id", "cseq"):
        for v in hdr(hdrs, name):
            rows.append(f"{name.title()}: {v}")
    rows.append("Content-Length: 0")
    sock.sendto(("\r\n".join(rows) + "\r\n\r\n").encode(), addr)


PIDF = """<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:{user}@{domain}">
<tuple id="t1"><status><basic>{basic}</basic></status><note>bench {n}</note></tuple>
</presence>
"""


class Client:
    def __init__(self, args):
        self.a = args
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", args.local_port))
        self.local = self.sock.getsockname()
        host, port = args.target.rsplit(":", 1)
        self.target = (host, int(port))
        self.run = f"{random.getrandbits(32):08x}"
        self.subscribed = set()  # watcher index with a 2xx
        self.first_notify = set()
        self.epoch = 0  # which publish round we are in
        self.notified = {}  # round -> set of watchers
        self.last_notify = {}
        self.failures = []

    def send(self, text):
        self.sock.sendto(text.encode(), self.target)

    def subscribe(self, i):
        a = self.a
        host, port = self.local
        self.send(
            f"SUBSCRIBE sip:{a.presentity}@{a.domain} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{self.run}s{i};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:{a.prefix}{i:06d}@{a.domain}>;tag=w{i}\r\n"
            f"To: <sip:{a.presentity}@{a.domain}>\r\n"
            f"Call-ID: {self.run}-{i}@bench\r\n"
            f"CSeq: 1 SUBSCRIBE\r\n"
            f"Contact: <sip:{a.prefix}{i:06d}@{host}:{port}>\r\n"
            f"Event: presence\r\n"
            f"Accept: application/pidf+xml\r\n"
            f"Expires: 3600\r\n"
            f"Content-Length: 0\r\n\r\n"
        )

    def publish(self, n, basic):
        a = self.a
        host, port = self.local
        body = PIDF.format(user=a.presentity, domain=a.domain, basic=basic, n=n)
        self.send(
            f"PUBLISH sip:{a.presentity}@{a.domain} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{self.run}p{n};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:{a.presentity}@{a.domain}>;tag=p{n}\r\n"
            f"To: <sip:{a.presentity}@{a.domain}>\r\n"
            f"Call-ID: {self.run}-pub{n}@bench\r\n"
            f"CSeq: {n + 1} PUBLISH\r\n"
            f"Event: presence\r\n"
            f"Expires: 3600\r\n"
            f"Content-Type: application/pidf+xml\r\n"
            f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
        )

    def watcher_of(self, hdrs):
        cid = (hdr(hdrs, "call-id") or [""])[0]
        prefix = self.run + "-"
        if not cid.startswith(prefix):
            return None
        tail = cid[len(prefix):].split("@")[0]
        return int(tail) if tail.isdigit() else None

    def pump(self, until, deadline):
        """Handles packets until until() is true or the deadline passes."""
        self.sock.settimeout(0.05)
        while not until():
            if time.monotonic() > deadline:
                return False
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            msg = parse(data)
            if msg is None:
                continue
            start, hdrs, _ = msg
            if start.startswith("NOTIFY "):
                reply_200(self.sock, addr, hdrs)
                w = self.watcher_of(hdrs)
                if w is None:
                    continue
                self.first_notify.add(w)
                if self.epoch:
                    got = self.notified.setdefault(self.epoch, set())
                    if w not in got:
                        got.add(w)
                        self.last_notify[self.epoch] = time.monotonic()
            elif start.startswith("SIP/2.0 "):
                code = int(start.split()[1])
                cseq = (hdr(hdrs, "cseq") or [""])[0]
                if "SUBSCRIBE" in cseq:
                    w = self.watcher_of(hdrs)
                    if w is not None and 200 <= code < 300:
                        self.subscribed.add(w)
                    elif w is not None and code >= 300:
                        self.failures.append(code)
                elif "PUBLISH" in cseq and code >= 300:
                    self.failures.append(code)
        return True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True)
    p.add_argument("--domain", default="bench.test")
    p.add_argument("--presentity", default="p000001")
    p.add_argument("--prefix", default="u")
    p.add_argument("--watchers", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rate", type=int, default=2000, help="SUBSCRIBEs per second")
    p.add_argument("--local-port", type=int, default=0)
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--settle", type=float, default=6.0,
                   help="seconds before the first PSS sample (NOTIFY transactions gone)")
    p.add_argument("--steady", type=float, default=40.0,
                   help="seconds before the second PSS sample (past Timer J: the SUBSCRIBE "
                        "server transactions are gone too, only subscriptions remain)")
    p.add_argument("--label", default="server")
    a = p.parse_args()
    c = Client(a)
    n = a.watchers
    pid = a.server_pid

    # an initial publication, so every watcher gets a state from the start
    c.publish(0, "open")
    c.pump(lambda: False, time.monotonic() + 0.5)
    pss0 = pss_kib(pid)
    t0 = time.monotonic()
    for i in range(1, n + 1):
        c.subscribe(i)
        if i % 100 == 0:
            # pace and drain
            c.pump(lambda: False, time.monotonic() + 100 / a.rate)
    # UDP: resend what is still unanswered (same branch: the server's transaction absorbs it)
    ok = False
    end = time.monotonic() + 60
    while not ok and time.monotonic() < end:
        ok = c.pump(
            lambda: len(c.subscribed) >= n and len(c.first_notify) >= n,
            min(end, time.monotonic() + 1.0),
        )
        for i in range(1, n + 1):
            if i not in c.subscribed:
                c.subscribe(i)
    sub_secs = time.monotonic() - t0
    if not ok:
        print(json.dumps({"label": a.label, "error": "subscribe phase incomplete",
                          "subscribed": len(c.subscribed),
                          "notified": len(c.first_notify),
                          "failures": c.failures[:10]}))
        return 1
    c.pump(lambda: False, time.monotonic() + a.settle)  # past Timer K: NOTIFY transactions gone
    pss1 = pss_kib(pid)
    c.pump(lambda: False, t0 + sub_secs + max(a.steady, a.settle))
    pss2 = pss_kib(pid)

    rounds = []
    for r in range(1, a.rounds + 1):
        c.pump(lambda: False, time.monotonic() + 1.0)
        c.epoch = r
        cpu0 = cpu_seconds(pid)
        t_pub = time.monotonic()
        c.publish(r, "closed" if r % 2 else "open")
        done = c.pump(lambda: len(c.notified.get(r, ())) >= n, t_pub + 60)
        got = len(c.notified.get(r, ()))
        t_last = c.last_notify.get(r, t_pub)
        # let the server finish the 200s it is receiving, then read its CPU
        c.pump(lambda: False, time.monotonic() + 0.5)
        cpu = cpu_seconds(pid) - cpu0
        c.epoch = 0
        rounds.append({
            "round": r, "complete": done, "notified": got,
            "fanout_ms": round((t_last - t_pub) * 1000, 1),
            "cpu_s": round(cpu, 3),
            "notify_per_cpu_s": round(got / cpu, 0) if cpu > 0 else None,
        })
    good = [x for x in rounds if x["complete"]]
    good.sort(key=lambda x: x["fanout_ms"])
    med = good[len(good) // 2] if good else None
    print(json.dumps({
        "label": a.label, "watchers": n, "subscribe_secs": round(sub_secs, 2),
        "pss_before_kib": pss0, "pss_after_kib": pss1, "pss_steady_kib": pss2,
        "bytes_per_subscription": round((pss1 - pss0) * 1024 / n, 0),
        "bytes_per_subscription_steady": round((pss2 - pss0) * 1024 / n, 0),
        "rounds": rounds, "median": med, "failures": c.failures[:10],
    }))
    return 0 if med else 1


if __name__ == "__main__":
    sys.exit(main())
