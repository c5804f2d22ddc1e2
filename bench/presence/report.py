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
a = (sb or {}).get("bytes_per_subscription")
b = (kam or {}).get("bytes_per_subscription")
ratio = f"{a / b:.2f}" if a and b else "n/a"
print(f"| memory per subscription (bytes, PSS) | {a} | {b} | {ratio} |")
for name, r in (("switchboard", sb), ("kamailio", kam)):
    if r and r.get("error"):
        print(f"\n{name}: {r['error']} ({r})")
print("\nGoals (issue 4): NOTIFYs per CPU-second ≥ 2× Kamailio; memory per subscription ≤ 2 KiB.")
