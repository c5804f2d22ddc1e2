#!/usr/bin/env python3
"""Ratio table for bench/rtp/run.sh.

Reads <run>/{rtpengine,switchboard,direct}-K<k>-r<round>.json (rtpbench.py output, one
step each), <run>/record-cost.txt and <run>/build.txt; prints Markdown.

  report.py RUN_DIR [--at 100,200]
"""
import argparse
import glob
import json
import os
import re
import statistics

RELAYS = ("switchboard", "rtpengine")


def load(run):
    steps = {}  # (label, k, round) -> step dict
    for path in glob.glob(os.path.join(run, "*-K*-r*.json")):
        m = re.match(r"(\w+)-K(\d+)-r(\d+)\.json$", os.path.basename(path))
        if not m:
            continue
        try:
            with open(path) as f:
                st = json.load(f)["steps"]
        except (OSError, ValueError, KeyError):
            continue
        if st:
            steps[(m.group(1), int(m.group(2)), int(m.group(3)))] = st[-1]
    return steps


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, nd=1):
    return "n/a" if v is None else f"{v:,.{nd}f}"


def ratio(a, b):
    return f"**{a / b:.2f}×**" if a is not None and b else "n/a"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--at", default="100,200", help="K values of the headline, e.g. 100,200")
    a = ap.parse_args()
    steps = load(a.run)
    ks = sorted({k for (_, k, _) in steps})
    try:
        build = open(os.path.join(a.run, "build.txt")).read().strip().splitlines()
    except OSError:
        build = []
    rec = {}
    try:
        for line in open(os.path.join(a.run, "record-cost.txt")):
            k, _, v = line.strip().partition("=")
            rec[k] = v
    except OSError:
        pass

    def at(label, k, key):
        return [s.get(key) for (l, kk, _), s in sorted(steps.items()) if l == label and kk == k]

    def added(label, k, key):
        """relay - direct of the same K and round (the generator's own floor removed)."""
        out = []
        for (l, kk, r), s in steps.items():
            d = steps.get(("direct", kk, r))
            if l == label and kk == k and d and s.get(key) is not None and d.get(key) is not None:
                out.append(s[key] - d[key])
        return out

    def sustained(label, max_added_p50=None):
        """(highest K such that every step up to it lost nothing, the generator sent its full
        load and, optionally, the added p50 stayed under max_added_p50 µs; why the next K
        failed, or None)."""
        best = None
        for k in ks:
            runs = [(r, s) for (l, kk, r), s in steps.items() if l == label and kk == k]
            why = set() if runs else {"not run"}
            for r, s in runs:
                if s.get("error"):
                    why.add("error")
                    continue
                if s["loss_pct"] > 0:
                    why.add(f"loss {s['loss_pct']:.3f} %")
                if s["send_shortfall_pct"] > 1.0:
                    why.add("generator short of the load")
                d = steps.get(("direct", k, r))
                if max_added_p50 is not None and (
                        not d or s["lat_p50_us"] - d["lat_p50_us"] > max_added_p50):
                    why.add("added p50 " + (f"{(s['lat_p50_us'] - d['lat_p50_us']) / 1000:.1f} ms"
                                            if d else "unknown"))
            if why:
                return best, f"K={k}: " + ", ".join(sorted(why))
            best = k
        return best, None

    def sustained_row(title, lim):
        (s, sw), (r, rw) = sustained("switchboard", lim), sustained("rtpengine", lim)
        cell = lambda v, w: f"{v if v else 'none'}" + (f" ({w})" if w else " (all K passed)")
        fair = not any(w and "generator" in w for w in (sw, rw))
        rat = ratio(s, r) if s and r and fair else "n/a (generator-bound)" if not fair else "n/a"
        print(f"| {title} | {cell(s, sw)} | {cell(r, rw)} | {rat} | |")

    print(f"# RTP relay: switchboard's media engine vs rtpengine ({os.path.basename(a.run)})\n")
    if build:
        print("Build: " + "; ".join(build) + "\n")
    print("Both relays running at once, pinned to the same CPU; generator (`rtpbench.py`) on the "
          "other; G.711 µ-law, 20 ms, both directions of K calls (2K streams, 100·K packets/s "
          "into the relay and as many out); steps interleaved rtpengine → switchboard → no relay. "
          "CPU = user+sys of the relay process (all threads) ÷ packets forwarded. Added latency = "
          "one-way latency through the relay − the same K without a relay, same round.\n")
    at_ks = [int(x) for x in str(a.at).replace(",", " ").split()] or [200]
    print("## Headline (median of the rounds at each K; K calls = 2K streams)\n")
    heads = " | ".join(f"K={k}: sb / rtpengine / ratio" for k in at_ks)
    print(f"| figure | {heads} | goal |")
    print("| --- | " + " | ".join("---:" for _ in at_ks) + " | --- |")

    def row(title, fn, nd, goal, with_ratio=True):
        cells = []
        for k in at_ks:
            sv, rv = fn("switchboard", k), fn("rtpengine", k)
            cells.append(f"{fmt(sv, nd)} / {fmt(rv, nd)}" + (f" / {ratio(sv, rv)}" if with_ratio else ""))
        print(f"| {title} | " + " | ".join(cells) + f" | {goal} |")

    row("rounds", lambda l, k: float(len(at(l, k, "relay_us_per_pkt"))), 0, "", False)
    row("CPU µs per forwarded packet", lambda l, k: med(at(l, k, "relay_us_per_pkt")), 2,
        "≤ 0.5× rtpengine")
    row("added latency p50 (µs)", lambda l, k: med(added(l, k, "lat_p50_us")), 0, "")
    row("added latency p99 (µs)", lambda l, k: med(added(l, k, "lat_p99_us")), 0,
        "< 1 ms at 200 streams")
    row("relay RSS (MiB)", lambda l, k: med(at(l, k, "relay_rss_mib")), 1, "")
    print("\n| figure | switchboard | rtpengine | switchboard / rtpengine | goal |")
    print("| --- | ---: | ---: | ---: | --- |")
    top = max(ks) if ks else "n/a"
    sustained_row(f"calls sustained at 0 loss, full load sent (K tried: {', '.join(map(str, ks))})", None)
    sustained_row(f"… and added p50 latency < 1 ms (highest K tried: {top})", 1000)
    if rec:
        try:
            one = float(rec["per_recording_added_cpu_pct"])
            leg = float(rec["per_stream_cpu_pct_recording"])
            base = float(rec["per_stream_cpu_pct_no_recording"])
            print(f"| one recording: CPU added (% of a core) | {one:.3f} | n/a | | < 2 % |")
            print(f"| one recorded leg in all (endpoint + recording, % of a core) | {leg:.3f} "
                  f"(without recording {base:.3f}) | n/a | | |")
        except (KeyError, ValueError):
            print("| one recording | failed, see record-cost.err | | | |")

    print("\n## Every step\n")
    print("| K | pkt/s in | relay | round | loss % | CPU % of a core | µs/pkt | p50 / p99 µs (raw) | "
          "added p50 / p99 µs | generator CPU % | note |")
    print("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for k in ks:
        for label in RELAYS + ("direct",):
            for (l, kk, r), s in sorted(steps.items()):
                if l != label or kk != k:
                    continue
                if s.get("error"):
                    print(f"| {k} | | {label} | {r} | | | | | | | error: {s['error']} |")
                    continue
                d = steps.get(("direct", k, r))
                add = "" if label == "direct" or not d else (
                    f"{s['lat_p50_us'] - d['lat_p50_us']:.0f} / {s['lat_p99_us'] - d['lat_p99_us']:.0f}")
                note = "gen-bound" if s.get("gen_bound") else ""
                print(f"| {k} | {s['pps_target']:.0f} | {label} | {r} | {s['loss_pct']:.4f} | "
                      f"{fmt(s.get('relay_cpu_pct'))} | {fmt(s.get('relay_us_per_pkt'), 2)} | "
                      f"{s['lat_p50_us']:.0f} / {s['lat_p99_us']:.0f} | {add} | "
                      f"{s['gen_cpu_pct']:.0f} | {note} |")
    if rec:
        print("\n## Recording cost (`ng-relay record-cost`)\n")
        print("```")
        for k, v in rec.items():
            print(f"{k}={v}")
        print("```")


if __name__ == "__main__":
    main()
