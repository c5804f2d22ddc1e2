#!/usr/bin/env python3
"""sip-bench core: ramp a SIPp load against any SIP server and report the
highest sustained rate.  Normally called through sip-bench.sh (same folder).

Modes
  register       REGISTER of N distinct users, no auth (1 op = 1 transaction)
  register-auth  REGISTER -> 401 -> REGISTER+Authorization -> 200 (1 op = 1 registration)
  call           UAC -> server (proxy) -> UAS, INVITE/100/180/200/ACK/.../BYE/200
                 (1 op = 1 call); callee users are registered first with their
                 Contact pointing at the SIPp UAS.

Every child process is started by this script, tracked by PID, bounded by a
deadline, and terminated by PID (SIGTERM, then SIGKILL) on exit.  Only
loopback / user-given addresses are used; nothing loops without a bound.
"""

import argparse
import csv
import hashlib
import json
import math
import re
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCEN_DIR = os.path.join(HERE, "scenarios")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

sys.path.insert(0, HERE)
import siplat  # noqa: E402  (same folder)

CHILDREN = {}  # pid -> Popen, every process we started and not yet reaped


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# process bookkeeping
# --------------------------------------------------------------------------

def start(cmd, cwd, stdout_path):
    out = open(stdout_path, "wb")
    p = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                         stderr=subprocess.STDOUT)
    out.close()
    CHILDREN[p.pid] = p
    return p


def reap(p, deadline):
    """Wait for p until deadline (monotonic). Returns (rc, cpu_seconds) using
    wait4 rusage, i.e. exact user+sys CPU of that process.  Kills by PID on
    overrun."""
    killed = False
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            CHILDREN.pop(p.pid, None)
            p.returncode = os.waitstatus_to_exitcode(status)
            return p.returncode, ru.ru_utime + ru.ru_stime, killed
        if time.monotonic() > deadline:
            if not killed:
                log(f"  ! pid {p.pid} overran its deadline; SIGTERM")
                os.kill(p.pid, signal.SIGTERM)
                killed = True
                deadline = time.monotonic() + 3
            else:
                log(f"  ! pid {p.pid} ignored SIGTERM; SIGKILL")
                os.kill(p.pid, signal.SIGKILL)
                deadline = time.monotonic() + 3600
        time.sleep(0.05)


def kill_all_children():
    for pid, p in list(CHILDREN.items()):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    t_end = time.monotonic() + 3
    for pid, p in list(CHILDREN.items()):
        try:
            p.wait(timeout=max(0.1, t_end - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.kill(pid, signal.SIGKILL)
                p.wait(timeout=3)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        CHILDREN.pop(pid, None)


def on_signal(signum, frame):
    log(f"signal {signum}: stopping children by PID")
    kill_all_children()
    sys.exit(128 + signum)


# --------------------------------------------------------------------------
# server sampling: CPU and memory of a PID and all its descendants
# --------------------------------------------------------------------------

def proc_tree(root):
    if root is None or not os.path.exists(f"/proc/{root}"):
        return []
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            ppid = int(s[s.rfind(")") + 2:].split()[1])
            kids.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def tree_cpu_ticks(pids):
    tot = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
            fl = s[s.rfind(")") + 2:].split()
            tot += int(fl[11]) + int(fl[12])  # utime + stime
        except (OSError, ValueError, IndexError):
            pass
    return tot


def tree_mem_kb(pids):
    """(sum of PSS, sum of RSS) in KiB. PSS splits shared pages (e.g.
    Kamailio's shm) fairly between processes, so the PSS sum is the honest
    footprint of a multi-process server; for a single process PSS ~= RSS."""
    pss = rss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
        except OSError:
            pass
    return pss, rss


def udp_counters():
    """(RcvbufErrors, SndbufErrors, InErrors) of this network namespace."""
    try:
        with open("/proc/net/snmp") as f:
            rows = [l.split() for l in f if l.startswith("Udp:")]
        d = dict(zip(rows[0][1:], (int(x) for x in rows[1][1:])))
        return d.get("RcvbufErrors", 0), d.get("SndbufErrors", 0), d.get("InErrors", 0)
    except (OSError, IndexError, ValueError):
        return 0, 0, 0


def cpu_stat():
    """{'cpu': (busy, total, steal), 'cpu0': ...} in ticks from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            fl = line.split()
            v = [int(x) for x in fl[1:]]
            idle = v[3] + (v[4] if len(v) > 4 else 0)
            steal = v[7] if len(v) > 7 else 0
            total = sum(v[:8])
            out[fl[0]] = (total - idle - steal, total, steal)
    return out


def machine_load(secs=2.0):
    """Busy % of each CPU over `secs` (100 = one core fully busy)."""
    a = cpu_stat()
    time.sleep(secs)
    b = cpu_stat()
    return {k: 100.0 * (b[k][0] - a[k][0]) / max(1, b[k][1] - a[k][1]) *
            (1 if k != "cpu" else len(a) - 1) for k in a}


class Sampler:
    """Samples server CPU (ticks) once per poll; call poll() from the wait loop."""

    def __init__(self, root):
        self.root = root
        self.pids = proc_tree(root)
        self.t0 = time.monotonic()
        self.c0 = tree_cpu_ticks(self.pids)
        self.last_t, self.last_c = self.t0, self.c0
        self.per_sec = []
        self.max_pss = 0
        self.cs0 = cpu_stat()
        self.self0 = os.times()

    def poll(self):
        if self.root is None:
            return
        now = time.monotonic()
        if now - self.last_t >= 1.0:
            self.pids = proc_tree(self.root)
            c = tree_cpu_ticks(self.pids)
            self.per_sec.append(100.0 * (c - self.last_c) / CLK_TCK / (now - self.last_t))
            self.last_t, self.last_c = now, c
            pss, _ = tree_mem_kb(self.pids)
            self.max_pss = max(self.max_pss, pss)

    def machine(self):
        """busy CPU-seconds of the whole machine (all cores), steal seconds,
        per-core busy %, and this driver's own CPU-seconds, since start"""
        cs1 = cpu_stat()
        me = os.times()
        busy = (cs1["cpu"][0] - self.cs0["cpu"][0]) / CLK_TCK
        steal = (cs1["cpu"][2] - self.cs0["cpu"][2]) / CLK_TCK
        per = {k: round(100.0 * (cs1[k][0] - self.cs0[k][0]) / max(1, cs1[k][1] - self.cs0[k][1]), 1)
               for k in cs1 if k != "cpu"}
        own = (me.user - self.self0.user) + (me.system - self.self0.system)
        return busy, steal, per, own

    def result(self):
        if self.root is None:
            return {}
        now = time.monotonic()
        self.pids = proc_tree(self.root)
        c = tree_cpu_ticks(self.pids)
        pss, rss = tree_mem_kb(self.pids)
        return {
            "server_cpu_s": (c - self.c0) / CLK_TCK,
            "server_cpu_pct_avg": 100.0 * (c - self.c0) / CLK_TCK / max(1e-6, now - self.t0),
            "server_cpu_pct_max1s": max(self.per_sec) if self.per_sec else None,
            "server_pss_mib": pss / 1024.0,
            "server_rss_sum_mib": rss / 1024.0,
            "server_pss_max_mib": max(self.max_pss, pss) / 1024.0,
            "server_procs": len(self.pids),
        }


# --------------------------------------------------------------------------
# users / injection files
# --------------------------------------------------------------------------

def write_users(path, n, prefix, first=1, with_auth=False):
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n")
        for i in range(first, first + n):
            u = f"{prefix}{i:06d}"
            if with_auth:
                f.write(f"{u};[authentication username={u} password=pw{i:06d}]\n")
            else:
                f.write(f"{u}\n")


def write_kamailio_dbtext(dirpath, n, prefix, domain):
    """db_text tables for Kamailio's auth_db / htable: user <prefix>NNNNNN,
    password pwNNNNNN, HA1 = MD5(user:realm:password) with realm = domain."""
    os.makedirs(dirpath, exist_ok=True)
    with open(os.path.join(dirpath, "version"), "w") as f:
        f.write("table_name(string) table_version(int)\nsubscriber:7\nversion:1\n")
    with open(os.path.join(dirpath, "subscriber"), "w") as f:
        f.write("id(int,auto) username(string) domain(string) password(string) "
                "ha1(string) ha1b(string)\n")
        for i in range(1, n + 1):
            u, pw = f"{prefix}{i:06d}", f"pw{i:06d}"
            ha1 = hashlib.md5(f"{u}:{domain}:{pw}".encode()).hexdigest()
            ha1b = hashlib.md5(f"{u}@{domain}:{domain}:{pw}".encode()).hexdigest()
            f.write(f"{i}:{u}:{domain}:{pw}:{ha1}:{ha1b}\n")


# --------------------------------------------------------------------------
# SIPp result parsing
# --------------------------------------------------------------------------

def read_stat(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    if len(rows) < 2:
        return []
    hdr = rows[0]
    return [dict(zip(hdr, r)) for r in rows[1:] if len(r) >= len(hdr) - 1]


def stat_int(row, key):
    try:
        return int(row.get(key, "0") or 0)
    except ValueError:
        return 0


def read_rtt(path):
    """SIPp -trace_rtt file: 'Date_ms;response_time_ms;rtd_no' per sample."""
    res = {}
    if not os.path.exists(path):
        return res
    with open(path) as f:
        for line in f:
            parts = line.strip().split(";")
            if len(parts) < 3 or not parts[0][:1].isdigit():
                continue
            try:
                t, rt = float(parts[0]), float(parts[1])
            except ValueError:
                continue
            res.setdefault(parts[2], []).append((t, rt))
    return res


def pct(sorted_vals, q):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def rtt_summary(samples):
    v = sorted(rt for _, rt in samples)
    if not v:
        return None
    return {"n": len(v), "p50_ms": pct(v, 0.5), "p90_ms": pct(v, 0.9),
            "p99_ms": pct(v, 0.99), "max_ms": v[-1], "mean_ms": statistics.fmean(v)}


def achieved_rate(samples):
    """Completed operations per second over the middle of the step (drops the
    first and last 10 % of completions so ramp-in/out do not bias it)."""
    ts = sorted(t for t, _ in samples)
    n = len(ts)
    if n < 20:
        return None
    a, b = int(n * 0.1), int(n * 0.9)
    span_ms = ts[b] - ts[a]
    return (b - a) / (span_ms / 1000.0) if span_ms > 0 else None


# --------------------------------------------------------------------------
# one SIPp run
# --------------------------------------------------------------------------

def prio_prefix(a):
    return ["nice", "-n", str(a.nice)] if a.nice else []


def sipp_cmd(a, scen, port, cport, extra):
    cmd = prio_prefix(a)
    if a.sipp_cpus:
        cmd += ["taskset", "-c", a.sipp_cpus]
    cmd += [a.sipp, *extra, "-sf", scen, "-i", a.local_ip, "-p", str(port),
            "-cp", str(cport), "-t", "u1", "-nostdin",
            "-buff_size", "4194304", "-max_recv_loops", "10000",
            "-max_sched_loops", "10000",
            "-key", "domain", a.domain, "-key", "expires", str(a.expires)]
    return cmd


def stat_summary(rows):
    if not rows:
        return {}
    last = rows[-1]
    keys = ["TotalCallCreated", "SuccessfulCall(C)", "FailedCall(C)",
            "Retransmissions(C)", "FailedMaxUDPRetrans(C)",
            "FailedUnexpectedMessage(C)", "FailedCallRejected(C)",
            "FailedCmdNotSent(C)", "FailedCannotSendMessage(C)",
            "FailedRegexpDoesntMatch(C)", "FailedOutboundCongestion(C)",
            "FailedTimeoutOnRecv(C)", "FailedTimeoutOnSend(C)",
            "OutOfCallMsgs(C)", "DeadCallMsgs(C)", "AutoAnswered(C)"]
    return {k: stat_int(last, k) for k in keys if k in last}


def run_sipp_step(a, wd, name, scen, inf, rate, count, keys, server_pid,
                  uas=None, capture=False, local_port=None):
    """Runs one bounded SIPp load step. Returns a dict with the figures.
    capture=True also records the loopback traffic of the server port with
    tcpdump (pinned like SIPp) and measures per-hop latency with siplat.py."""
    sd = os.path.join(wd, name)
    os.makedirs(sd, exist_ok=True)
    for f in os.listdir(SCEN_DIR):
        shutil.copy(os.path.join(SCEN_DIR, f), sd)
    shutil.copy(inf, os.path.join(sd, "users.csv"))
    step_time = count / rate
    hold_s = (a.hold_ms / 1000.0) if a.mode == "call" else 0
    budget = step_time + hold_s + a.recv_timeout_ms / 1000.0 + 10
    extra = ["-r", f"{rate:g}", "-rp", "1000", "-m", str(count),
             "-l", str(max(1000, int(rate * (hold_s + 10)))),
             "-timeout", f"{int(budget)}s",
             "-recv_timeout", str(a.recv_timeout_ms),
             "-inf", "users.csv",
             "-trace_stat", "-stf", "stat.csv", "-fd", "1",
             "-trace_rtt", "-rtt_freq", "1",
             "-trace_err", "-error_file", "errors.log",
             "-trace_screen", "-screen_file", "screen.log"]
    if a.mode == "call":
        extra += ["-d", str(a.hold_ms)]
    for k, v in keys.items():
        extra += ["-key", k, str(v)]
    extra.append(a.target)

    cap_p = None
    if capture:
        ccmd = prio_prefix(a) + (["taskset", "-c", a.sipp_cpus] if a.sipp_cpus else []) + [
            a.tcpdump, "-i", "lo", "-n", "-s", "1024", "-B", "65536", "-Z", "root",
            "-w", "cap.pcap", "udp", "and", "port", str(server_port_of(a))]
        cap_p = start(ccmd, sd, os.path.join(sd, "tcpdump.out"))
        t_wait = time.monotonic() + 5
        while time.monotonic() < t_wait:
            with open(os.path.join(sd, "tcpdump.out"), "rb") as f:
                if b"listening on" in f.read():
                    break
            time.sleep(0.1)
    uas_p = None
    if uas is not None:
        # -m with a margin: stray in-dialog requests of calls left over from an
        # earlier (failed) step also count as calls in SIPp and would make the
        # UAS stop before the last calls of this step; it is stopped by PID anyway
        uas_extra = ["-timeout", f"{int(budget + 5)}s", "-m", str(count + max(100, count // 10)),
                     "-recv_timeout", str(a.recv_timeout_ms + a.hold_ms),
                     "-l", str(max(1000, int(rate * (hold_s + 15)))),
                     "-trace_stat", "-stf", "uas-stat.csv", "-fd", "1",
                     "-trace_err", "-error_file", "uas-errors.log",
                     "-trace_screen", "-screen_file", "uas-screen.log"]
        uas_p = start(sipp_cmd(a, "uas-call.xml", a.uas_port, a.cport + 1, uas_extra),
                      sd, os.path.join(sd, "uas.out"))
        time.sleep(0.5)

    cmd = sipp_cmd(a, scen, local_port or a.sipp_port, a.cport, extra)
    with open(os.path.join(sd, "cmd.txt"), "w") as f:
        f.write(" ".join(cmd) + "\n")
    sampler = Sampler(server_pid)
    udp0 = udp_counters()
    t0 = time.monotonic()
    p = start(cmd, sd, os.path.join(sd, "sipp.out"))
    deadline = t0 + budget + 5
    # poll until SIPp exits, sampling the server each second
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            CHILDREN.pop(p.pid, None)
            rc = os.waitstatus_to_exitcode(status)
            cpu = ru.ru_utime + ru.ru_stime
            break
        sampler.poll()
        if time.monotonic() > deadline:
            rc, cpu, _ = reap(p, time.monotonic())  # SIGTERM/SIGKILL by PID
            break
        time.sleep(0.1)
    wall = time.monotonic() - t0
    srv = sampler.result()
    m_busy, m_steal, m_per, m_own = sampler.machine()
    udp1 = udp_counters()
    uas_cpu = 0.0
    uas_stat = {}
    if uas_p is not None:
        _, uas_cpu, _ = reap(uas_p, time.monotonic() + 3)
        uas_stat = stat_summary(read_stat(os.path.join(sd, "uas-stat.csv")))

    cap = None
    cap_cpu = 0.0
    if cap_p is not None:
        # TPACKET_V3 hands over a ring block only when it is full or its 1 s
        # timeout expires: wait past that before SIGINT or the tail is lost
        time.sleep(2.2)
        os.kill(cap_p.pid, signal.SIGINT)
        _, cap_cpu_total, _ = reap(cap_p, time.monotonic() + 10)
        # approximate: attribute its CPU to the load window only
        cap_cpu = cap_cpu_total
        with open(os.path.join(sd, "tcpdump.out"), errors="replace") as f:
            m = re.search(r"(\d+) packets dropped by kernel", f.read())
        cap = siplat.analyze(os.path.join(sd, "cap.pcap"), server_port_of(a))
        cap["dropped_by_kernel"] = int(m.group(1)) if m else None
        with open(os.path.join(sd, "latency.json"), "w") as f:
            json.dump(cap, f, indent=1)
        if not a.keep_pcap:
            os.unlink(os.path.join(sd, "cap.pcap"))

    st = stat_summary(read_stat(os.path.join(sd, "stat.csv")))
    rtt_files = [f for f in os.listdir(sd) if f.endswith("_rtt.csv")]
    rtts = read_rtt(os.path.join(sd, rtt_files[0])) if rtt_files else {}
    ok = st.get("SuccessfulCall(C)", 0)
    failed = st.get("FailedCall(C)", 0)
    unfinished = max(0, count - ok - failed)
    fail_pct = 100.0 * (failed + unfinished) / count if count else 100.0
    rtd1 = rtt_summary(rtts.get("1", []))
    rtd2 = rtt_summary(rtts.get("2", []))
    ach = achieved_rate(rtts.get("1", []))
    res = {
        "step": name, "target_rate": rate, "ops": count, "ok": ok, "failed": failed,
        "unfinished": unfinished, "fail_pct": fail_pct, "achieved_rate": ach,
        "rtd1": rtd1, "rtd2": rtd2, "wall_s": wall, "sipp_rc": rc,
        "sipp_cpu_s": cpu, "uas_cpu_s": uas_cpu,
        # SIPp CPU% over the time it was generating load (step_time + hold)
        "sipp_cpu_pct": 100.0 * (cpu + uas_cpu) / max(1e-6, wall),
        "sipp_stats": st, "uas_stats": uas_stat, "wire_latency": cap,
    }
    res.update(srv)
    ours = srv.get("server_cpu_s", 0.0) + cpu + uas_cpu + cap_cpu + m_own
    res["machine_busy_pct"] = 100.0 * m_busy / wall
    res["machine_steal_pct"] = 100.0 * m_steal / wall
    res["machine_per_cpu_busy_pct"] = m_per
    res["capture_cpu_pct"] = 100.0 * cap_cpu / wall
    # CPU used on this machine by processes that are not part of the
    # benchmark (other users, builds ...): > ~10 % means a noisy measurement
    res["foreign_cpu_pct"] = max(0.0, 100.0 * (m_busy - ours) / wall)
    # a VM's steal time (host busy with other guests) disturbs like foreign load
    res["noisy"] = res["foreign_cpu_pct"] + res["machine_steal_pct"] > a.max_foreign_pct
    # UDP datagrams the kernel dropped because a socket buffer was full
    # (server or SIPp); > 0 explains failures at moderate CPU
    res["udp_rcvbuf_errors"] = udp1[0] - udp0[0]
    res["udp_sndbuf_errors"] = udp1[1] - udp0[1]
    if ok and srv.get("server_cpu_s") is not None:
        res["server_cpu_us_per_op"] = 1e6 * srv["server_cpu_s"] / ok
    # verdict
    why = []
    if fail_pct >= a.max_fail_pct:
        why.append(f"fail {fail_pct:.3f}%>={a.max_fail_pct}%")
    if ach is None or ach < a.min_achieved * rate:
        why.append(f"achieved {ach if ach is None else round(ach)}<{a.min_achieved:.0%} of target")
    if rtd1 is None or rtd1["p99_ms"] > a.max_p99_ms:
        why.append(f"p99 {None if rtd1 is None else round(rtd1['p99_ms'], 1)}ms>{a.max_p99_ms}ms")
    res["pass"] = not why
    res["why"] = "; ".join(why)
    res["client_bound"] = res["sipp_cpu_pct"] >= 90.0 * max(1, ncpus(a.sipp_cpus))
    return res


def server_port_of(a):
    return int(a.target.rsplit(":", 1)[1])


def ncpus(spec):
    if not spec:
        return os.cpu_count() or 1
    n = 0
    for part in spec.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            n += int(hi) - int(lo) + 1
        else:
            n += 1
    return n


def fmt(v, nd=1):
    if v is None:
        return "-"
    return f"{v:.{nd}f}"


MODE = ["register"]

PRIMARY = {
    "register": ["REGISTER -> 200 (local reply)"],
    "register-auth": ["REGISTER -> 401 (local reply)", "REGISTER -> 200 (local reply)"],
    "call": ["INVITE -> 100 (local reply)", "fwd INVITE", "fwd 200 (INVITE)", "fwd BYE"],
}


SUMMARY_LABEL = {
    "register": "REGISTER -> 200 (local reply)",
    "register-auth": "REGISTER -> 200 (local reply)",
    "call": "fwd INVITE",
}


def wire_lines(r, mode):
    w = (r.get("wire_latency") or {}).get("latency_us", {})
    out = []
    for label in PRIMARY[mode]:
        s = w.get(label)
        if s:
            out.append(f"{label}: p50 {s['p50']:.0f}us p99 {s['p99']:.0f}us (n={s['n']})")
    return out


def print_step(r):
    d1 = r["rtd1"] or {}
    log(f"  step {r['step']}: target {r['target_rate']:g}/s  achieved {fmt(r['achieved_rate'],0)}/s"
        f"  ok {r['ok']}/{r['ops']} fail {r['fail_pct']:.3f}%"
        f"  p50 {fmt(d1.get('p50_ms'),2)}ms p99 {fmt(d1.get('p99_ms'),2)}ms"
        f"  srv cpu {fmt(r.get('server_cpu_pct_avg'))}% pss {fmt(r.get('server_pss_mib'))}MiB"
        f"  sipp cpu {fmt(r['sipp_cpu_pct'])}%  foreign {fmt(r.get('foreign_cpu_pct'))}%"
        f"  udp-drops {r.get('udp_rcvbuf_errors')}"
        f"  -> {'PASS' if r['pass'] else 'FAIL (' + r['why'] + ')'}"
        f"{'  [client-bound]' if r['client_bound'] else ''}"
        f"{'  [NOISY: other load on the machine]' if r.get('noisy') else ''}")
    if r.get("wire_latency"):
        for line in wire_lines(r, MODE[0]):
            log(f"      wire {line}")
        log(f"      capture: kernel drops {r['wire_latency'].get('dropped_by_kernel')}")


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", required=True, help="server host:port (UDP), e.g. 127.0.0.1:5060")
    ap.add_argument("--mode", required=True, choices=["register", "register-auth", "call"])
    ap.add_argument("--server-pid", type=int, help="PID of the server (its whole process tree is sampled)")
    ap.add_argument("--label", default="server", help="name for the results row (e.g. kamailio, ucserver)")
    ap.add_argument("--out", help="results folder (default: <bench>/results/<time>-<label>-<mode>)")
    ap.add_argument("--users", type=int, default=None,
                    help="distinct users (default 20000 for register modes, 1000 callees for call)")
    ap.add_argument("--user-prefix", default="u")
    ap.add_argument("--domain", default="bench.test", help="SIP domain = digest realm")
    ap.add_argument("--expires", type=int, default=3600)
    ap.add_argument("--local-ip", default="127.0.0.1")
    ap.add_argument("--sipp-port", type=int, default=15080)
    ap.add_argument("--uas-port", type=int, default=15070)
    ap.add_argument("--cport", type=int, default=18890, help="SIPp control ports (uses N and N+1)")
    ap.add_argument("--sipp", default="sipp")
    ap.add_argument("--tcpdump", default="tcpdump")
    ap.add_argument("--nice", type=int, default=int(os.environ.get("BENCH_NICE", "-10" if os.geteuid() == 0 else "0")),
                    help="nice value for SIPp/tcpdump (default -10 as root: on a shared machine it keeps "
                         "other users' jobs from distorting the figures; no effect on an idle machine)")
    ap.add_argument("--no-latency-step", action="store_true",
                    help="skip the extra captured step (wire latency) at the best rate")
    ap.add_argument("--keep-pcap", action="store_true")
    ap.add_argument("--max-foreign-pct", type=float, default=10.0,
                    help="flag a step as noisy when processes outside the benchmark used more CPU (%% of one core)")
    ap.add_argument("--wait-quiet", type=float, default=30,
                    help="wait up to this many seconds for other load to go away before starting")
    ap.add_argument("--latency-fracs", default="1.0,0.5",
                    help="fractions of the best rate at which the captured latency steps run")
    ap.add_argument("--latency-rates", default="",
                    help="absolute rates for more captured latency steps, e.g. 2000: give every "
                         "server the same ones to compare latency at equal load")
    ap.add_argument("--noisy-retries", type=int, default=1,
                    help="repeat a failing ramp step this many times when it was flagged noisy "
                         "(other load or steal above --max-foreign-pct)")
    ap.add_argument("--settle-secs", type=float, default=0,
                    help="after the last step, wait this long and sample the server's PSS again "
                         "(transaction state expired: memory held by registrations only)")
    ap.add_argument("--capture-all", action="store_true",
                    help="capture (wire latency) during every ramp step too")
    ap.add_argument("--sipp-cpus", default="", help="taskset CPU list for SIPp, e.g. 1 (default: no pinning)")
    ap.add_argument("--start-rate", type=float, default=None)
    ap.add_argument("--max-rate", type=float, default=100000)
    ap.add_argument("--factor", type=float, default=1.5, help="rate multiplier per ramp step")
    ap.add_argument("--step-secs", type=float, default=10)
    ap.add_argument("--refine", type=int, default=3, help="bisection steps after the first failure")
    ap.add_argument("--max-total-secs", type=float, default=260, help="hard bound for the whole ramp")
    ap.add_argument("--max-fail-pct", type=float, default=0.1)
    ap.add_argument("--max-p99-ms", type=float, default=200.0)
    ap.add_argument("--min-achieved", type=float, default=0.95,
                    help="achieved/target rate needed to pass")
    ap.add_argument("--hold-ms", type=int, default=1000, help="call hold time (call mode)")
    ap.add_argument("--recv-timeout-ms", type=int, default=5000)
    ap.add_argument("--rates", default="", help="explicit comma list of rates instead of a ramp")
    ap.add_argument("--gen-kamailio-db", metavar="DIR",
                    help="only write Kamailio db_text credential tables to DIR and exit")
    a = ap.parse_args()
    MODE[0] = a.mode
    if a.users is None:
        a.users = 1000 if a.mode == "call" else 20000
    if a.gen_kamailio_db:
        write_kamailio_dbtext(a.gen_kamailio_db, a.users, a.user_prefix, a.domain)
        return 0
    if a.start_rate is None:
        a.start_rate = {"register": 1000, "register-auth": 500, "call": 100}[a.mode]

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t_begin = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    wd = a.out or os.path.join(HERE, "results", f"{stamp}-{a.label}-{a.mode}")
    os.makedirs(wd, exist_ok=True)
    log(f"sip-bench: {a.label} {a.mode} -> {a.target}; results in {wd}")

    base_pss = None
    if a.server_pid:
        pids = proc_tree(a.server_pid)
        if not pids:
            log(f"server pid {a.server_pid} not found")
            return 2
        base_pss = tree_mem_kb(pids)[0] / 1024.0

    # wait (bounded) for the machine to be quiet: other processes' builds on
    # the same 2 cores would distort every figure
    t_q = time.monotonic() + a.wait_quiet
    while True:
        ld = machine_load(2.0)
        log(f"  machine busy before start: {ld['cpu']:.0f}% (per cpu: "
            + ", ".join(f"{k} {v:.0f}%" for k, v in ld.items() if k != 'cpu') + ")")
        if ld["cpu"] <= a.max_foreign_pct + 5 or time.monotonic() > t_q:
            if ld["cpu"] > a.max_foreign_pct + 5:
                log("  ! machine is busy with other work: figures will be noisy")
            break
    t_begin = time.monotonic()  # the ramp gets its full --max-total-secs
    keys = {}
    results = []
    lat_steps = []
    good = bad = None
    try:
        if a.mode == "call":
            callees = os.path.join(wd, "callees.csv")
            write_users(callees, a.users, a.user_prefix)
            # register every callee with Contact -> the SIPp UAS, sent FROM the
            # UAS port: a server that routes to the flow a REGISTER came from
            # (NAT friendly, e.g. switchboard) and one that routes to the
            # Contact (Kamailio) then both reach the UAS
            prev_mode = a.mode
            a.mode = "register"
            pre = run_sipp_step(a, wd, "00-preregister", "register.xml", callees,
                                rate=min(1000, a.users), count=a.users,
                                keys={"contact_host": a.local_ip, "contact_port": a.uas_port},
                                server_pid=a.server_pid, local_port=a.uas_port)
            a.mode = prev_mode
            log(f"  pre-registered {pre['ok']}/{a.users} callees -> {a.local_ip}:{a.uas_port}")
            if pre["ok"] != a.users:
                log("  ! pre-registration incomplete; calls to unregistered users will fail")
            scen, inf, uas = "uac-call.xml", callees, True
        else:
            inf = os.path.join(wd, "users.csv")
            write_users(inf, a.users, a.user_prefix, with_auth=(a.mode == "register-auth"))
            scen = "register.xml" if a.mode == "register" else "register-auth.xml"
            keys = {"contact_host": a.local_ip, "contact_port": a.sipp_port}
            uas = None

        def time_left():
            return a.max_total_secs - (time.monotonic() - t_begin)

        lat_fracs = [] if a.no_latency_step else [float(x) for x in a.latency_fracs.split(",") if x]
        lat_rates = [float(x) for x in a.latency_rates.split(",") if x]

        def one(rate, idx, capture=False, tag="r"):
            rate = float(f"{rate:.3g}") if rate >= 100 else round(rate)
            count = max(1, int(round(rate * a.step_secs)))
            hold = a.hold_ms / 1000.0 if a.mode == "call" else 0
            need = a.step_secs + hold + 8
            # ramp steps leave room for the captured latency steps that follow
            # (and for a failing step running into SIPp's receive timeout)
            reserve = 0 if capture else (
                len(lat_fracs) * (a.step_secs + hold + 4)
                + a.recv_timeout_ms / 1000.0)
            if capture:
                need = a.step_secs + hold + 4
            if time_left() < need + reserve:
                log(f"  time budget exhausted ({time_left():.0f}s left, step needs ~{need:.0f}s)")
                return None
            r = run_sipp_step(a, wd, f"{idx:02d}-{tag}{rate:g}", scen, inf, rate, count, keys,
                              a.server_pid, uas=uas, capture=capture or a.capture_all)
            r["kind"] = "latency" if capture else "ramp"
            print_step(r)
            results.append(r)
            time.sleep(2)  # let retransmissions / timers drain between steps
            return r

        idx = 1
        good = bad = None

        def ramp_step(rate):
            """one ramp step; a noisy failure is repeated (bounded by --noisy-retries)"""
            nonlocal idx
            r = one(rate, idx)
            idx += 1
            for _ in range(a.noisy_retries):
                if r is None or r["pass"] or not r.get("noisy"):
                    break
                if r["sipp_stats"].get("FailedUnexpectedMessage(C)", 0):
                    break  # the server answered with errors (e.g. 503): not noise
                log(f"  step failed while the machine was noisy (foreign "
                    f"{r['foreign_cpu_pct']:.0f}%, steal {r['machine_steal_pct']:.0f}%): repeating it")
                r2 = one(rate, idx, tag="again")
                idx += 1
                if r2 is None:
                    break
                r = r2
            return r

        # fixed-rate captured steps first, on the fresh server: no state left
        # over from overload steps (e.g. transactions kept for Timer J)
        for rate in lat_rates:
            r = one(rate, idx, capture=True, tag="latfix")
            idx += 1
            if r is None:
                break
            r["lat_fixed"] = True
            lat_steps.append(r)
        if a.rates:
            for rate in [float(x) for x in a.rates.split(",") if x]:
                r = ramp_step(rate)
                if r is None:
                    break
                if r["pass"] and (good is None or r["target_rate"] > good["target_rate"]):
                    good = r
        else:
            rate = a.start_rate
            while rate <= a.max_rate:
                r = ramp_step(rate)
                if r is None:
                    break
                if r["pass"]:
                    good = r
                    rate *= a.factor
                else:
                    bad = r
                    break
            for _ in range(a.refine):
                if bad is None:
                    break
                lo = good["target_rate"] if good else 0
                hi = bad["target_rate"]
                if hi - lo <= max(0.05 * hi, 1):
                    break
                r = ramp_step((lo + hi) / 2)
                if r is None:
                    break
                if r["pass"]:
                    good = r
                else:
                    bad = r
        # extra steps with a loopback capture: wire latency at the best rate
        # and at half of it (not used for the pass/fail ramp: the capture
        # itself costs some CPU)
        if good and lat_fracs:
            for i, frac in enumerate(lat_fracs):
                tag = "lat" if i == 0 else f"lat-{frac:g}"
                r = one(good["target_rate"] * frac, idx, capture=True, tag=tag)
                idx += 1
                if r is None:
                    break
                r["lat_frac"] = frac
                lat_steps.append(r)

    finally:
        kill_all_children()

    settled_pss = None
    if a.settle_secs > 0 and a.server_pid and proc_tree(a.server_pid):
        log(f"  settling {a.settle_secs:g}s before the last memory sample")
        time.sleep(a.settle_secs)
        settled_pss = tree_mem_kb(proc_tree(a.server_pid))[0] / 1024.0
        log(f"  server PSS after {a.settle_secs:g}s idle: {settled_pss:.1f} MiB")

    summary = {
        "label": a.label, "mode": a.mode, "target": a.target, "users": a.users,
        "step_secs": a.step_secs, "sipp_cpus": a.sipp_cpus or "any", "nice": a.nice,
        "criteria": {"max_fail_pct": a.max_fail_pct, "max_p99_ms": a.max_p99_ms,
                     "min_achieved": a.min_achieved},
        "server_pss_idle_mib": base_pss, "server_pss_settled_mib": settled_pss,
        "settle_secs": a.settle_secs,
        "best": good, "first_fail": bad, "latency_steps": lat_steps, "steps": results,
        "elapsed_s": time.monotonic() - t_begin,
    }
    with open(os.path.join(wd, "result.json"), "w") as f:
        json.dump(summary, f, indent=1)

    # one-line summary row (TSV), appended to <bench>/results/summary.tsv
    g = good or {}
    lab = SUMMARY_LABEL[a.mode]
    lat = next((r for r in lat_steps if r.get("lat_frac") == 1.0), {})
    lat_h = next((r for r in lat_steps if r.get("lat_frac") == 0.5), {})
    wl = ((lat.get("wire_latency") or {}).get("latency_us") or {}).get(lab) or {}
    wlh = ((lat_h.get("wire_latency") or {}).get("latency_us") or {}).get(lab) or {}
    cols = ["date", "label", "mode", "target", "users", "best_target_rate", "best_achieved_rate",
            "fail_pct", "wire_metric", "wire_p50_us", "wire_p99_us", "wire_p50_us_half",
            "wire_p99_us_half", "sipp_p99_ms", "server_cpu_pct", "server_cpu_us_per_op",
            "server_pss_mib", "server_pss_idle_mib", "sipp_cpu_pct", "client_bound",
            "foreign_cpu_pct", "noisy_steps",
            "first_fail_rate", "first_fail_why", "results_dir"]
    row = [stamp, a.label, a.mode, a.target, a.users,
           g.get("target_rate"), fmt(g.get("achieved_rate"), 0), fmt(g.get("fail_pct"), 3),
           lab, fmt(wl.get("p50"), 0), fmt(wl.get("p99"), 0), fmt(wlh.get("p50"), 0),
           fmt(wlh.get("p99"), 0), fmt((g.get("rtd1") or {}).get("p99_ms"), 0),
           fmt(g.get("server_cpu_pct_avg")), fmt(g.get("server_cpu_us_per_op")),
           fmt(g.get("server_pss_mib")), fmt(base_pss), fmt(g.get("sipp_cpu_pct")),
           g.get("client_bound"), fmt(g.get("foreign_cpu_pct")),
           sum(1 for r in results if r.get("noisy")),
           (bad or {}).get("target_rate"), (bad or {}).get("why"),
           os.path.relpath(wd, HERE)]
    sfile = os.path.join(HERE, "results", "summary.tsv")
    os.makedirs(os.path.dirname(sfile), exist_ok=True)
    new = not os.path.exists(sfile)
    with open(sfile, "a") as f:
        if new:
            f.write("\t".join(cols) + "\n")
        f.write("\t".join("" if v is None else str(v) for v in row) + "\n")

    log("")
    if good:
        print(f"RESULT {a.label} {a.mode}: sustained {fmt(good['achieved_rate'],0)}/s "
              f"(target {good['target_rate']:g}/s, fail {good['fail_pct']:.3f}%, "
              f"SIPp p99 {fmt((good['rtd1'] or {}).get('p99_ms'),0)} ms at 4 ms resolution)")
        print(f"  server CPU {fmt(good.get('server_cpu_pct_avg'))}% of one core "
              f"= {fmt(good.get('server_cpu_us_per_op'))} us CPU per op; "
              f"PSS {fmt(good.get('server_pss_mib'))} MiB (idle {fmt(base_pss)} MiB); "
              f"SIPp CPU {fmt(good['sipp_cpu_pct'])}%; foreign load {fmt(good.get('foreign_cpu_pct'))}%"
              f"{'  [NOISY]' if good.get('noisy') else ''}"
              f"{'  [client-bound: SIPp saturated, the rate is a lower bound]' if good['client_bound'] else ''}")
        for r in lat_steps:
            print(f"  wire latency at {r['target_rate']:g}/s "
                  f"(capture step: {'pass' if r['pass'] else 'FAIL ' + r['why']}):")
            for line in wire_lines(r, a.mode):
                print(f"    {line}")
    else:
        print(f"RESULT {a.label} {a.mode}: no passing step "
              f"(first: {results[0]['why'] if results else 'none run'})")
    if bad:
        print(f"  first failing step: target {bad['target_rate']:g}/s ({bad['why']})")
    print(f"  details: {wd}/result.json ; summary row in {sfile}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
