#!/usr/bin/env python3
"""Ratio table for bench/presence/run.sh: reads <run>/{switchboard,kamailio}.json."""
import json
import os
import subprocess
import sys

run = sys.argv[1]
res = {}
for name in ("switchboard", "kamailio"):
    path = os.path.join(run, f"{name}.json")
    try:
        with open(path) as f:
            res[name] = json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        pass

def med(r, key):
    m = (r or {}).get("median") or {}
    return m.get(key)

try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=os.path.dirname(__file__)).stdout.strip()
except OSError:
    commit = "?"
sb, kam = res.get("switchboard"), res.get("kamailio")
n = (sb or kam or {}).get("watchers", "?")
print(f"# Presence fan-out: one PUBLISH, {n} SIP watchers (commit {commit})\n")
print("Median of 3 rounds; server on CPU 0, client (fanout.py) on CPU 1, loopback UDP.\n")
print("| figure | switchboard | Kamailio | switchboard / Kamailio |")
print("| --- | --- | --- | --- |")
rows = [
    ("time until the last NOTIFY (ms)", "fanout_ms", False),
    ("server CPU for the fan-out (s)", "cpu_s", False),
    ("NOTIFYs per CPU-second", "notify_per_cpu_s", False),
]
for label, key, _ in rows:
    a, b = med(sb, key), med(kam, key)
    ratio = f"{a / b:.2f}" if a and b else "n/a"
    print(f"| {label} | {a if a is not None else 'n/a'} | {b if b is not None else 'n/a'} | {ratio} |")
for key, label in (
    ("bytes_per_subscription", "memory per subscription, 6 s after subscribing (bytes, PSS)"),
    ("bytes_per_subscription_steady",
     "memory per subscription, 40 s after (past Timer J: subscriptions only)"),
):
    a = (sb or {}).get(key)
    b = (kam or {}).get(key)
    ratio = f"{a / b:.2f}" if a and b else "n/a"
    print(f"| {label} | {a} | {b} | {ratio} |")
# CAS half (switchboard only): <run>/switchboard-cas.txt from `cas-bench presence`.
cas = {}
try:
    with open(os.path.join(run, "switchboard-cas.txt")) as f:
        for line in f:
            k, sep, v = line.strip().partition("=")
            if sep:
                cas[k] = v
except OSError:
    pass
if cas:
    import statistics
    nr = int(cas.get("rounds", "0") or 0)
    def cmed(key):
        vals = []
        for r in range(1, nr + 1):
            try:
                vals.append(float(cas[f"r{r}_{key}"]))
            except (KeyError, ValueError):
                pass
        return statistics.median(vals) if vals else None
    def show(v, nd=0):
        return "n/a" if v is None else f"{v:.{nd}f}"
    w = cas.get("watchers", "?")
    print(f"| CAS: {w} WebSocket sessions following the presentity, one `presence.set` "
          "(median of rounds) | | no CAS | |")
    print(f"| CAS: time until the last `presence` event (ms) | {show(cmed('last_ms'), 1)} | n/a | n/a |")
    print(f"| CAS: event latency p50 / p99 (ms) | {show(cmed('p50_ms'), 1)} / "
          f"{show(cmed('p99_ms'), 1)} | n/a | n/a |")
    print(f"| CAS: server CPU for the fan-out (s) | {show(cmed('server_cpu_s'), 3)} | n/a | n/a |")
    print(f"| CAS: events per CPU-second | {show(cmed('events_per_cpu_s'))} | n/a | n/a |")
    missing = sum(int(cas.get(f"r{r}_missing", "0") or 0) for r in range(1, nr + 1))
    print(f"| CAS: events missing over {nr} rounds | {missing} | n/a | n/a |")
    print(f"| CAS: memory per subscription (bytes, PSS; the session itself excluded) | "
          f"{cas.get('pss_per_subscription_bytes', 'n/a')} | n/a | n/a |")
    print(f"| CAS: memory per WebSocket session (bytes, PSS) | "
          f"{cas.get('pss_per_session_bytes', 'n/a')} | n/a | n/a |")
for name, r in (("switchboard", sb), ("kamailio", kam)):
    if r and r.get("error"):
        print(f"\n{name}: {r['error']} ({r})")
print("\nGoals (issue 4): NOTIFYs per CPU-second ≥ 2× Kamailio; memory per subscription ≤ 2 KiB.")
