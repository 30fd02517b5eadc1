#!/usr/bin/env python3
"""Cold start and memory of gtmd next to gdnsd, NSD and Knot DNS on the same zone, measured in one run.

    bench/startup.py [--peers gdnsd,nsd,knot,ceiling,swift-floor,gtmd,gtmd-lab] [--rounds 9] [--gtmd PATH] [--gtmd-b PATH]
                     [--variant LABEL=PATH ...] [--idle 4] [--idle-cpu 0] [--burst 1] [--history N] [--no-pin]
                     [--out DIR]

Cold start: the time from exec of the server to its first correct answer on loopback (`www.lab.example A`
with the A record 127.0.0.11), taken by bench/startprobe.c: it forks and execs the server itself and sends a
query every 0.5 ms (each waits at most 0.5 ms for its reply; at most 100,000 queries and 20 s). Memory: VmRSS
and Pss (proportional set size, shared pages split between their users) summed over the server's processes
(NSD forks), read from /proc once the server answers and has been idle for --idle seconds (4 unless told: gtmd
hands its start-up code pages back 2 s after the start, and in those 2 s its RSS is ~15 MB), and again 0.3 s
after a --burst seconds dnsperf burst (the query mix of bench/queries/mix.txt, saturated). --idle-cpu SECS
(after the idle reading, before the burst): the CPU time and the wake-ups (context switches, voluntary and not)
of the idle server's threads over SECS seconds, per second: what an idle server costs the machine (a thread that
ends meanwhile is not counted).

Peers: gdnsd, nsd, knot with their bench/peers/<name>/ configs (rendered as bench/peers.sh does; what the
`start` file runs before its `exec` is done before the clock starts); for every gtmd binary LABEL two rows:
  LABEL      bench/peers/gtmd (the benchmark zone as static data, one UDP worker, control API off): the same
             work as the other servers;
  LABEL-lab  config/lab.yaml as `scripts/run-lab.sh` serves it (both zones, two health-checked services,
             the control API, listening on 127.0.0.1 and ::1); its first answer waits for the first probe round
             against two lab backends (Tests/tools/lab_backend.py, started here on a free port).
and two floors, built by this script, that no DNS server can start below:
  ceiling      bench/gen/ceiling.c, a C responder with prebuilt answers (speed.py's ceiling);
  swift-floor  bench/gen/floor.swift, a Swift program that binds one UDP socket and answers every question
             with www's record, linked as scripts/build-release.sh links gtmd (static Swift runtime and
             libstdc++, lld, DT_RELR, no exported symbols): what any Swift server pays before its own work.
--gtmd PATH (default .build/release/gtmd, built when missing) is LABEL gtmd; --gtmd-b PATH adds LABEL gtmd-b
(before/after in one run); --variant LABEL=PATH adds any other; add the labels to --peers (`gtmd-b,gtmd-b-lab`).
--env LABEL:VAR=VALUE sets an environment variable for that label's runs (e.g. MALLOC_ARENA_MAX).
--history N starts every gtmd with a state file that already holds N events (a server that has run a while
keeps the newest 1,000): the start reads that history.

Before every start the server's binary is read whole (page-cache warm: the kernel maps cached pages around each
page fault, so RSS would otherwise depend on what ran before); "cold" is the process, not the disk.
CPU ms to first answer (schedstat of the server's live threads; NSD's forked children are not counted) is the
figure that survives a loaded machine best; wall-clock start times swing with the load.
Rounds are interleaved (every round starts every server once, the order rotates) and the server runs pinned
to CPU 0, the prober and dnsperf to CPU 1 (--no-pin: unpinned). Prints medians and the ratio to gdnsd; the CSV
(every run) and the markdown table go to .build/bench/<time>-startup/. Nothing is written outside the run dirs.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from genbuild import gen
from proctree import threads, tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port(avoid):
    """A port free for both UDP and TCP on 127.0.0.1 and ::1, from 25600-25999, not in avoid."""
    for port in range(25600, 26000):
        if port in avoid:
            continue
        ok = True
        for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(fam, kind)
                try:
                    s.bind((host, port))
                except OSError:
                    ok = False
                finally:
                    s.close()
        if ok:
            avoid.add(port)
            return port
    raise SystemExit("startup.py: no free port in 25600-25999")


def memory(pid):
    """Summed over the process tree: VmRSS, RssAnon, Pss (kB), processes, threads."""
    m = {"rss_kb": 0, "anon_kb": 0, "pss_kb": 0, "procs": 0, "threads": 0}
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                status = f.read()
            with open(f"/proc/{p}/smaps_rollup") as f:
                rollup = f.read()
        except OSError:
            continue
        def field(text, name):
            r = re.search(rf"^{name}:\s+(\d+)", text, re.M)
            return int(r.group(1)) if r else 0
        m["rss_kb"] += field(status, "VmRSS")
        m["anon_kb"] += field(status, "RssAnon")
        m["threads"] += field(status, "Threads")
        m["pss_kb"] += field(rollup, "Pss")
        m["procs"] += 1
    return m


def activity(pid):
    """Per live thread of the process tree: (CPU ms from schedstat, context switches) so far."""
    return {(p, t): (ns / 1e6, switches) for p in tree(pid) for t, (_, ns, switches) in threads(p).items()}


def activity_between(before, after):
    """CPU ms and context switches between two `activity` readings: of the threads alive at the second (a thread
    that ended meanwhile takes its part with it; one started meanwhile counts whole)."""
    cpu = sum(c - before.get(k, (0.0, 0))[0] for k, (c, _) in after.items())
    switches = sum(w - before.get(k, (0.0, 0))[1] for k, (_, w) in after.items())
    return cpu, switches


def render(name, run, port):
    """Copies bench/peers/<name>/ into run (templates rendered); returns (prep shell text, argv after exec)."""
    src = os.path.join(ROOT, "bench", "peers", name)
    shutil.copy(os.path.join(ROOT, "bench", "zones", "lab.example.zone"), run)
    start = ""
    for f in sorted(os.listdir(src)):
        path = os.path.join(src, f)
        if f == "start":
            start = open(path).read()
        elif f.endswith(".in"):
            text = open(path).read().replace("@ADDR@", "127.0.0.1").replace("@PORT@", str(port))
            with open(os.path.join(run, f[:-3]), "w") as out:
                out.write(text.replace("@RUN@", run))
        else:
            shutil.copy(path, run)
    lines = [l for l in start.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    text = " ".join(lines)
    m = re.match(r"^(.*?)(?:&&\s*|;\s*|^)exec\s+(.*)$", text)
    if not m:
        raise SystemExit(f"startup.py: bench/peers/{name}/start does not exec the server")
    return m.group(1).strip(), shlex.split(m.group(2))


def lab_config(run, port, cport, bport):
    """config/lab.yaml rendered into run: paths absolute, the backends' port, a control token; the argv tail."""
    text = open(os.path.join(ROOT, "config", "lab.yaml")).read()
    text = text.replace("../zones/", os.path.join(ROOT, "zones") + "/")
    text = text.replace("../.lab-state/", run + "/")
    text = re.sub(r"(\n\s+port:\s*)8081\b", rf"\g<1>{bport}", text)
    with open(os.path.join(run, "lab.yaml"), "w") as f:
        f.write(text)
    fd = os.open(os.path.join(run, "control.token"), os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"startup-bench-token")
    os.close(fd)
    return ["serve", "--config", os.path.join(run, "lab.yaml"), "--listen", f"127.0.0.1:{port}",
            "--listen", f"[::1]:{port}", "--control", f"127.0.0.1:{cport}"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers", default="gdnsd,nsd,knot,gtmd,gtmd-lab")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--gtmd")
    ap.add_argument("--gtmd-b")
    ap.add_argument("--variant", action="append", default=[], metavar="LABEL=PATH")
    ap.add_argument("--env", action="append", default=[], metavar="LABEL:VAR=VALUE")
    ap.add_argument("--idle", type=float, default=4.0)
    ap.add_argument("--idle-cpu", type=float, default=0.0)
    ap.add_argument("--burst", type=int, default=1)
    ap.add_argument("--history", type=int, default=0)
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()

    gtmds = {}
    if a.gtmd:
        gtmds["gtmd"] = os.path.abspath(a.gtmd)
    else:
        path = os.path.join(ROOT, ".build", "release", "gtmd")
        if not os.path.exists(path):
            subprocess.run([os.path.join(ROOT, "scripts", "build-release.sh")], cwd=ROOT, check=True)
        gtmds["gtmd"] = path
    if a.gtmd_b:
        gtmds["gtmd-b"] = os.path.abspath(a.gtmd_b)
    for v in a.variant:
        label, _, path = v.partition("=")
        gtmds[label] = os.path.abspath(path)
    envs = {}
    for e in a.env:
        label, _, kv = e.partition(":")
        k, _, v = kv.partition("=")
        envs.setdefault(label, {})[k] = v
    names = a.peers.split(",")
    for n in names:
        base = n[:-4] if n.endswith("-lab") else n
        if n not in PEERS + FLOORS and base not in gtmds:
            raise SystemExit(f"startup.py: unknown peer {n} (gdnsd, nsd, knot, ceiling, swift-floor, or a gtmd "
                             "LABEL[-lab])")

    out = a.out or os.path.join(ROOT, ".build", "bench", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-startup")
    os.makedirs(out, exist_ok=True)
    probe = os.path.join(out, "startprobe")
    subprocess.run(["cc", "-O2", "-Wall", "-o", probe, os.path.join(ROOT, "bench", "startprobe.c")], check=True)
    floors = build_floors([n for n in names if n in FLOORS], out)
    server_cpu, my_cpu = ("-1", "-1") if a.no_pin else ("0", "1")
    pin = [] if a.no_pin else ["taskset", "-c", my_cpu]

    used = set()
    backends = []
    bport = None
    if any(n.endswith("-lab") for n in names):
        bport = free_port(used)
        for addr in ("127.0.0.11", "127.0.0.12"):
            backends.append(subprocess.Popen(
                [sys.executable, os.path.join(ROOT, "Tests", "tools", "lab_backend.py"), addr, str(bport)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for addr in ("127.0.0.11", "127.0.0.12"):
            for _ in range(100):
                try:
                    socket.create_connection((addr, bport), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)

    rows = []
    csv_path = os.path.join(out, "startup.csv")
    cols = ["peer", "round", "start_ms", "start_cpu_ms", "start_faults", "start_threads", "queries", "idle_rss_kb", "idle_pss_kb", "idle_anon_kb",
            "burst_rss_kb", "burst_pss_kb", "burst_anon_kb", "procs", "threads", "idle_cpu_ms_s", "idle_wakeups_s"]
    with open(csv_path, "w") as f:
        f.write(",".join(cols) + "\n")
    try:
        for r in range(a.rounds):
            for i in range(len(names)):
                name = names[(i + r) % len(names)]
                row = measure(a, name, r, gtmds, floors, envs, probe, server_cpu, my_cpu, pin, used, bport, out)
                rows.append(row)
                with open(csv_path, "a") as f:
                    f.write(",".join(str(row.get(c, "")) for c in cols) + "\n")
                print(f"round {r}  {name:<14} start {row['start_ms']:>8} ms (cpu {row['start_cpu_ms']:>7} ms, {row['start_faults']} faults)  idle rss {row['idle_rss_kb'] / 1024:6.1f} MB"
                      f"  pss {row['idle_pss_kb'] / 1024:6.1f} MB  after burst rss {row['burst_rss_kb'] / 1024:6.1f} MB"
                      f"  threads {row['threads']}", flush=True)
    finally:
        for b in backends:
            b.terminate()
            b.wait()
    table = summarize(rows, names, a)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table)
    print(table)
    print(f"raw: {out}")


def measure(a, name, r, gtmds, floors, envs, probe, server_cpu, my_cpu, pin, used, bport, out):
    run = tempfile.mkdtemp(prefix=f"gtmd-startup-{name}-")
    port = free_port(used)
    env = dict(os.environ)
    try:
        if name in FLOORS:
            argv = [floors[name], "-p", str(port), "-s", "127.0.0.1"]
        elif name in PEERS:
            prep, argv = render(name, run, port)
            if prep:
                subprocess.run(["sh", "-c", prep], cwd=run, check=True, stdout=subprocess.DEVNULL)
        else:
            label = name[:-4] if name.endswith("-lab") else name
            env["GTMD"] = gtmds[label]
            env.update(envs.get(label, {}))
            if name.endswith("-lab"):
                cport = free_port(used)
                argv = [gtmds[label]] + lab_config(run, port, cport, bport)
            else:
                prep, argv = render("gtmd", run, port)
                if prep:
                    subprocess.run(["sh", "-c", prep], cwd=run, check=True, env=env)
        if name not in PEERS + FLOORS and a.history > 0:
            write_history(os.path.join(run, "state.json"), a.history)
        argv = [os.path.expandvars(x) if "$" in x else x for x in argv]
        argv = [env["GTMD"] if x in ("$GTMD", "${GTMD}") else x for x in argv]
        # The binary wholly in the page cache before every start: the kernel maps pages around each fault
        # (fault-around) only where they are cached, so RSS would otherwise depend on what ran before. How the
        # pages got there matters too (a binary just copied or built sits in the cache in smaller pieces than one
        # read from disk: the same binary measured 19.7 and 21.9 MB), so each binary is first dropped from the
        # cache once per run and read back whole: every binary of a run starts from the same cache state.
        exe = argv[0] if os.path.isabs(argv[0]) else shutil.which(argv[0])
        if exe and exe not in settled:
            settled.add(exe)
            fd = os.open(exe, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            except OSError:
                pass
            finally:
                os.close(fd)
        if exe:
            with open(exe, "rb") as f:
                while f.read(1 << 20):
                    pass
        log = os.path.join(out, f"{name}-round{r}.log")
        p = subprocess.Popen([probe, "-p", str(port), "-c", server_cpu, "-C", my_cpu, "-d", run, "-l", log, "--"]
                             + argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        line = p.stdout.readline().split()
        row = {"peer": name, "round": r, "start_ms": "", "start_cpu_ms": "", "start_faults": "", "start_threads": "",
               "queries": "", "idle_rss_kb": 0, "idle_pss_kb": 0,
               "idle_anon_kb": 0, "burst_rss_kb": 0, "burst_pss_kb": 0, "burst_anon_kb": 0, "procs": 0,
               "threads": 0, "idle_cpu_ms_s": "", "idle_wakeups_s": ""}
        if not line or line[0] != "ok":
            print(f"startup.py: {name} round {r}: {' '.join(line) or 'no result'} (log {log})", file=sys.stderr)
        else:
            row["start_ms"], pid, row["queries"], row["start_cpu_ms"] = line[1], int(line[2]), line[3], line[4]
            row["start_faults"], row["start_threads"] = line[5], line[6]
            time.sleep(a.idle)
            m = memory(pid)
            row.update({"idle_rss_kb": m["rss_kb"], "idle_pss_kb": m["pss_kb"], "idle_anon_kb": m["anon_kb"],
                        "procs": m["procs"], "threads": m["threads"]})
            if a.idle_cpu > 0:
                before = activity(pid)
                time.sleep(a.idle_cpu)
                cpu, switches = activity_between(before, activity(pid))
                row["idle_cpu_ms_s"] = f"{cpu / a.idle_cpu:.3f}"
                row["idle_wakeups_s"] = f"{switches / a.idle_cpu:.1f}"
            if a.burst > 0 and shutil.which("dnsperf"):
                subprocess.run(pin + ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d",
                                      os.path.join(ROOT, "bench", "queries", "mix.txt"), "-l", str(a.burst),
                                      "-c", "4", "-q", "256"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.3)
                m = memory(pid)
                row.update({"burst_rss_kb": m["rss_kb"], "burst_pss_kb": m["pss_kb"], "burst_anon_kb": m["anon_kb"]})
        p.stdin.close()
        p.wait(timeout=30)
        return row
    finally:
        shutil.rmtree(run, ignore_errors=True)


def build_floors(wanted, out):
    """The floors' binaries: {peer: path}. `ceiling` is bench/gen/ceiling.c (a C responder with prebuilt answers),
    built as speed.py builds it; `swift-floor` is bench/gen/floor.swift (see `build_swift_floor`)."""
    built = {}
    if "ceiling" in wanted:
        built["ceiling"] = gen("ceiling")
    if "swift-floor" in wanted:
        built["swift-floor"] = build_swift_floor(out)
    return built


def build_swift_floor(out):
    """bench/gen/floor.swift built into out, linked as scripts/build-release.sh links gtmd (the flags of that link
    that are not gtmd's own layout: static Swift runtime and libstdc++, lld, DT_RELR, no exported symbols)."""
    path = os.path.join(out, "swift-floor")
    cmd = ["swiftc", "-O", "-static-stdlib", "-o", path, os.path.join(ROOT, "bench", "gen", "floor.swift")]
    # libstdc++ static, as gtmd's release link takes it: a directory holding only its archive, searched first.
    archive = subprocess.run(["gcc", "-print-file-name=libstdc++.a"], capture_output=True, text=True).stdout.strip()
    if os.path.isabs(archive) and os.path.exists(archive):
        libs = os.path.join(out, "floor-libs")
        os.makedirs(libs, exist_ok=True)
        if not os.path.exists(os.path.join(libs, "libstdc++.a")):
            os.symlink(os.path.realpath(archive), os.path.join(libs, "libstdc++.a"))
        cmd += ["-L", libs]
    lld = os.path.join(os.path.dirname(os.path.realpath(shutil.which("swiftc") or "swiftc")), "ld.lld")
    if os.path.exists(lld):
        cmd += ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic"]
    else:
        print("startup.py: no ld.lld beside swiftc: swift-floor linked without gtmd's flags", file=sys.stderr)
    subprocess.run(cmd, check=True)
    return path


# The peers with a bench/peers/<name>/ config, and the floors (no config: a port and an address).
PEERS = ("gdnsd", "nsd", "knot")
FLOORS = ("ceiling", "swift-floor")

# Binaries already dropped from the page cache and read back in this run (see `measure`).
settled = set()


def write_history(path, n):
    """A state file holding n server-start events, as a server that has run a while has them (with the seq its
    next event gets, which a server writes since session 9)."""
    events = [{"action": "start", "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_790_000_000 + 60 * i)),
               "kind": "server", "reason": "gtmd started with gtmd.yaml (1 services)", "seq": i + 1}
              for i in range(n)]
    with open(path, "w") as f:
        json.dump({"events": events, "eventsNextSeq": n + 1}, f, indent=2, sort_keys=True)


def summarize(rows, names, a):
    def med(name, key):
        v = [float(x[key]) for x in rows if x["peer"] == name and x["start_ms"] != ""]
        return (statistics.median(v), min(v), max(v), len(v)) if v else (float("nan"),) * 3 + (0,)
    ref = "gdnsd" if "gdnsd" in names else names[0]
    rs, ri, rc = med(ref, "start_ms")[0], med(ref, "idle_rss_kb")[0], med(ref, "start_cpu_ms")[0]
    out = [f"Cold start (exec to first correct answer) and memory, medians of {a.rounds} interleaved rounds; "
           f"ratios to {ref}.\n",
           "| server | cold start ms (min–max) | × | CPU ms to first answer | × | minor faults to first answer "
           "| threads then | idle RSS MB | × | idle Pss MB | after burst RSS MB | threads idle |"
           + (" idle CPU ms/s | idle wake-ups/s |" if a.idle_cpu > 0 else ""),
           "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if a.idle_cpu > 0 else "")]
    for n in names:
        s, smin, smax, k = med(n, "start_ms")
        if k == 0:
            out.append(f"| {n} | failed | | | | | | | | | | |")
            continue
        i = med(n, "idle_rss_kb")[0]
        p = med(n, "idle_pss_kb")[0]
        b = med(n, "burst_rss_kb")[0]
        t = med(n, "threads")[0]
        c = med(n, "start_cpu_ms")[0]
        fl = med(n, "start_faults")[0]
        st = med(n, "start_threads")[0]
        out.append(f"| {n} | {s:.1f} ({smin:.1f}–{smax:.1f}) | {s / rs:.2f} | {c:.1f} | {c / rc:.2f} | {fl:.0f} | {st:.0f} | "
                   f"{i / 1024:.1f} | {i / ri:.2f} | "
                   f"{p / 1024:.1f} | {b / 1024:.1f} | {t:.0f} |"
                   + (f" {med(n, 'idle_cpu_ms_s')[0]:.3f} | {med(n, 'idle_wakeups_s')[0]:.1f} |" if a.idle_cpu > 0 else ""))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    main()
