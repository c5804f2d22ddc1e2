#!/usr/bin/env python3
"""report: ratio table switchboard / Kamailio for one bench/run.sh run.

Reads the rows of results/summary.tsv that belong to the run folder (column
results_dir), and each row's result.json for the figures summary.tsv does not
hold (CPU per op at the highest rate both servers passed, failures over all
steps, contacts registered).  Writes Markdown to --out and prints it.

usage: report.py --run-dir results/run-X [--run-dir results/run-Y ...]
                 [--summary results/summary.tsv] [--out latest.md]
With several run folders, each mode is taken from the LAST folder that has it
(e.g. a full run, then a re-run of one mode).
"""

import argparse
import csv
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = ["register", "register-auth", "call"]
OP = {"register": "REGISTER (no auth)", "register-auth": "registration with digest (2 txns)",
      "call": "proxied call (INVITE..BYE, 1 s hold)"}
KAM_REF = {"register": 14.0, "register-auth": 36.8, "call": 670.0}


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def f(v, nd=1):
    return "—" if v is None else f"{v:,.{nd}f}"


def ratio(a, b, nd=2):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.{nd}f}×"


def load_rows(summary, run_dir):
    rows = {}
    if not os.path.exists(summary):
        return rows
    rel = os.path.relpath(run_dir, os.path.dirname(os.path.dirname(summary)))
    with open(summary, newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            d = r.get("results_dir", "")
            if not d.startswith(rel + os.sep):
                continue
            server = "switchboard" if os.path.basename(d).startswith("switchboard-") else "kamailio"
            rows[(server, r["mode"])] = r
    return rows


def load_json(run_dir, server, mode):
    p = os.path.join(run_dir, f"{server}-{mode}", "result.json")
    if not os.path.exists(p):
        return None
    with open(p) as fh:
        return json.load(fh)


WIRE = {"register": "REGISTER -> 200 (local reply)",
        "register-auth": "REGISTER -> 200 (local reply)", "call": "fwd INVITE"}


def lat_step(res, fixed):
    for s in (res or {}).get("latency_steps", []):
        if bool(s.get("lat_fixed")) == fixed and (fixed or s.get("lat_frac", 1.0) == 1.0):
            return s
    return None


def wire(step, label, q):
    if not step:
        return None
    return (((step.get("wire_latency") or {}).get("latency_us") or {}).get(label) or {}).get(q)


def count_in_errors(run_dir, server, mode, needle):
    d = os.path.join(run_dir, f"{server}-{mode}")
    if not os.path.isdir(d):
        return None
    n = 0
    for step in os.listdir(d):
        for name in ("errors.log", "uas-errors.log"):
            p = os.path.join(d, step, name)
            if os.path.exists(p):
                with open(p, errors="replace") as fh:
                    n += fh.read().count(needle)
    return n


def completed(res):
    """ramp steps that completed (<1 % failed; latency bound not required):
    their CPU per op is valid even when a stall broke the p99 bound"""
    return {s["target_rate"]: s for s in (res or {}).get("steps", [])
            if s.get("kind") == "ramp" and s.get("fail_pct", 100) < 1.0
            and s.get("server_cpu_us_per_op")}


def contacts(res, last=False):
    """distinct users registered up to the best step, or over all steps with
    last=True (SIPp walks the user list from the top in every step)"""
    if not res or (not res.get("best") and not last):
        return None
    n = 0
    for s in res["steps"]:
        n = max(n, s.get("ok", 0))
        if not last and s.get("step") == res["best"].get("step"):
            break
    return min(n, res.get("users") or n) or None


def failures(res):
    steps = (res or {}).get("steps", [])
    ops = sum(s.get("ops", 0) for s in steps)
    bad = sum(s.get("failed", 0) + s.get("unfinished", 0) for s in steps)
    return ops, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", required=True, action="append")
    ap.add_argument("--summary", default=os.path.join(HERE, "results", "summary.tsv"))
    ap.add_argument("--out")
    ap.add_argument("--failed", default="")
    ap.add_argument("--quick", default="0")
    a = ap.parse_args()
    run_dirs = [os.path.abspath(d) for d in a.run_dir]

    def dir_for(mode):
        for d in reversed(run_dirs):
            if any(os.path.exists(os.path.join(d, f"{srv}-{mode}", "result.json"))
                   for srv in ("switchboard", "kamailio")):
                return d
        return run_dirs[-1]

    out = []
    w = out.append
    w(f"# switchboard vs Kamailio — {time.strftime('%Y-%m-%d %H:%M')}"
      f"{' (--quick)' if a.quick == '1' else ''}")
    w("")
    used = [d for d in run_dirs if d in {dir_for(m) for m in MODES}] or run_dirs[-1:]
    folders = ", ".join(f"`{os.path.relpath(d, HERE)}`" for d in used)
    w(f"Run folder(s): {folders}. Ratio = switchboard / Kamailio "
      "(CPU, latency, memory: lower is better; rate: higher is better). Server pinned to "
      "CPU 0, SIPp to CPU 1, UDP on loopback. Kamailio register-auth uses the htable "
      "credential cache.")
    for d in used:
        bt = os.path.join(d, "build.txt")
        if os.path.exists(bt):
            with open(bt) as fh:
                modes = [m for m in MODES if dir_for(m) == d]
                w(f"Measured ({', '.join(modes) if len(used) > 1 else 'all modes'}): "
                  + "; ".join(l.strip() for l in fh if l.strip()) + ".")
    w("")
    w("| mode | metric | switchboard | Kamailio | ratio |")
    w("| --- | --- | ---: | ---: | ---: |")
    notes = []
    for mode in MODES:
        run_dir = dir_for(mode)
        rows = load_rows(os.path.abspath(a.summary), run_dir)
        sb, km = rows.get(("switchboard", mode)), rows.get(("kamailio", mode))
        jsb, jkm = load_json(run_dir, "switchboard", mode), load_json(run_dir, "kamailio", mode)
        if not (sb or km or jsb or jkm):
            continue
        g = lambda r, k: num((r or {}).get(k))  # noqa: E731
        def line(metric, x, y, nd=1, with_ratio=True):
            w(f"| {mode} | {metric} | {f(x, nd)} | {f(y, nd)} | "
              f"{ratio(x, y) if with_ratio else 'n/a'} |")
        line("server CPU µs per op at each best rate (different loads)",
             g(sb, "server_cpu_us_per_op"), g(km, "server_cpu_us_per_op"))
        csb, ckm = completed(jsb), completed(jkm)
        for r in sorted(set(csb) & set(ckm)):
            line(f"server CPU µs per op at {r:g}/s (same load)",
                 csb[r].get("server_cpu_us_per_op"), ckm[r].get("server_cpu_us_per_op"))
        st = []
        for j in (jsb, jkm):
            v = [s.get("machine_steal_pct", 0) + s.get("foreign_cpu_pct", 0)
                 for s in (j or {}).get("steps", [])]
            st.append(sum(v) / len(v) if v else None)
        line("(noise: mean steal + foreign CPU % per step)", st[0], st[1], 0)
        line("sustained rate /s (<0.1 % failed)", g(sb, "best_achieved_rate"),
             g(km, "best_achieved_rate"), 0)
        metric = WIRE[mode]
        fixed = [lat_step(j, fixed=True) for j in (jsb, jkm)]
        rates = {s_["target_rate"] for s_ in fixed if s_}
        if rates:
            rtxt = "/".join(f"{r:g}" for r in sorted(rates))
            for q in ("p50", "p99"):
                line(f"wire {q} µs at {rtxt}/s, same load ({metric})",
                     *[wire(s_, metric, q) for s_ in fixed], 0)
        best = [lat_step(j, fixed=False) for j in (jsb, jkm)]
        if any(best):
            tag = " / ".join(
                ("—" if not s_ else f"{s_['target_rate']:g}/s {'pass' if s_['pass'] else 'FAIL'}")
                for s_ in best)
            for q in ("p50", "p99"):
                line(f"wire {q} µs at each best rate ({tag})",
                     *[wire(s_, metric, q) for s_ in best], 0, with_ratio=False)
        line("PSS MiB idle", g(sb, "server_pss_idle_mib"), g(km, "server_pss_idle_mib"))
        line("PSS MiB loaded", g(sb, "server_pss_mib"), g(km, "server_pss_mib"))
        if mode != "call":
            per = []
            for r, j in ((sb, jsb), (km, jkm)):
                n = contacts(j)
                d = (g(r, "server_pss_mib") or 0) - (g(r, "server_pss_idle_mib") or 0)
                per.append(1024.0 * d / n if n and r else None)
            line("KiB per registered contact (PSS growth under load / contacts)",
                 per[0], per[1], 2)
            if (jsb or {}).get("server_pss_settled_mib") or (jkm or {}).get("server_pss_settled_mib"):
                per = []
                for j in (jsb, jkm):
                    n, st = contacts(j, last=True), (j or {}).get("server_pss_settled_mib")
                    idle = (j or {}).get("server_pss_idle_mib")
                    per.append(1024.0 * (st - idle) / n if n and st and idle else None)
                secs = (jsb or jkm).get("settle_secs")
                line(f"KiB per registered contact, PSS {secs:g} s after the load "
                     "(allocator keeps the peak)", per[0], per[1], 2)
            rm = os.path.join(run_dir, "switchboard-register", "restart-mem.json")
            if mode == "register" and os.path.exists(rm):
                with open(rm) as fh:
                    m = json.load(fh)
                live = (1.0 * (m["pss_kib_with"] - m["pss_kib_without"]) / m["bindings"]
                        if m.get("bindings") and m.get("pss_kib_with") else None)
                n = contacts(jkm, last=True)
                kl = (1024.0 * (num(km.get("server_pss_mib")) - num(km.get("server_pss_idle_mib")))
                      / n if km and n else None)
                line(f"KiB per contact, live data (switchboard: idle PSS after restart with "
                     f"{m.get('bindings')} bindings − empty; Kamailio: growth, stateless)",
                     live, kl, 2)
        fp = []
        for j in (jsb, jkm):
            ops, bad = failures(j)
            fp.append(100.0 * bad / ops if ops else None)
        line("failed % over all steps (ramp incl. overload)", fp[0], fp[1], 3)
        line("failed % at the best rate", g(sb, "fail_pct"), g(km, "fail_pct"), 3)
        line("503 responses received by SIPp (all steps)",
             *[count_in_errors(run_dir, srv, mode, "SIP/2.0 503") for srv in
               ("switchboard", "kamailio")], 0)
        for name, r, j in (("switchboard", sb, jsb), ("Kamailio", km, jkm)):
            if r is None:
                notes.append(f"- {mode}: no result row for {name} (see the run folder)")
                continue
            if r.get("first_fail_rate"):
                notes.append(f"- {mode} {name}: first failing step {r['first_fail_rate']}/s: "
                             f"{r.get('first_fail_why')}")
            if r.get("client_bound") == "True":
                notes.append(f"- {mode} {name}: SIPp saturated at the best rate "
                             "(rate is a lower bound)")
            if r.get("noisy_steps") not in (None, "", "0"):
                notes.append(f"- {mode} {name}: {r['noisy_steps']} step(s) flagged noisy "
                             f"(foreign CPU at best step {r.get('foreign_cpu_pct')} %)")
    w("")
    w("Kamailio reference (BASELINE.md): 14 µs per REGISTER, 36.8 µs per digest registration "
      "(htable), ≈670 µs per proxied call, ≈1.2 KiB per contact.")
    if a.failed.strip():
        notes.append(f"- runs that exited non-zero: {a.failed.strip()}")
    if notes:
        w("")
        w("Notes")
        out.extend(notes)
    text = "\n".join(out) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
