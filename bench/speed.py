#!/usr/bin/env python3
"""Speed figures of gtmd next to gdnsd, measured in one run (issue 17). One command per figure:

  bench/speed.py saturated  [--rounds 5] [--secs 10]   qps and server µs/query under a saturating load (bench/gen/blast.c,
                                                      4 sockets x 64 in flight), rows static / failover / nearest+ECS
  bench/speed.py dnsperf    [--rounds 5] [--secs 10]   the same rows with dnsperf -c 1 -T 1 -q 100 (dnsperf is the limit)
  bench/speed.py latency    [--rounds 3] [--secs 20] [--rate 50000] [--probes 2000]
                                                      p50/p99/p99.9 at a fixed rate (bench/gen/ratelat.c), lab query mix,
                                                      without and with health probes (PROBES TCP-checked targets every 2 s:
                                                      1,000 probes a second with the default)
  bench/speed.py matched    [--rounds 3] [--secs 8] [--rate 100000]
                                                      the saturated rows at one fixed rate for every server (ratelat):
                                                      core and process µs/query at the same work, so the CPU per query
                                                      of the two servers is compared like for like (under `saturated`
                                                      each runs at its own rate); pick a rate both servers sustain
  bench/speed.py probes     [--rounds 5] [--secs 10] [--probes 2000] [--probe-kind tcp]
                                                      the CPU of health probing alone: PROBES targets every 2 s (1,000
                                                      probes a second with the default), no DNS load; server CPU µs
                                                      per probe (--probe-kind http: gen/acceptor answers 200 OK)
  bench/speed.py multicore  [--rounds 5] [--secs 10]   both cores for the server, udp_workers / udp_threads 1 and 2; the
                                                      generator shares a core, so the figure is server CPU per query
  bench/speed.py instructions [--secs 10]             user-space instructions per query (valgrind --tool=callgrind: counters
                                                      zeroed after a warm-up, dumped after SECS of load, total / replies),
                                                      rows static / failover / nearest+ECS; repeatable on a noisy machine.
                                                      --rows idle --probes 200: no queries, instructions per health probe
                                                      (the server's whole process; probes = its connect(2) calls)
  bench/speed.py syscalls   [--secs 5]                 system calls and context switches per query under the saturating load
                                                      (perf tracepoints, /proc/<pid>/task/*/status; a diagnostic)

Common options: --servers gtmd,gdnsd (also gtmd-b: the same gtmd config on --gtmd-b BINARY, for before/after;
ceiling: bench/gen/ceiling.c, a C responder with prebuilt answers to the rows' questions, the kernel's ceiling;
--ratio-to SERVER: the ratio columns' divisor, gdnsd unless told;
--gtmd-env / --gtmd-b-env KEY=VALUE set environment variables of either),
--gtmd BINARY (default .build/release/gtmd, built if missing), --quiet-pct 10 (wait until other processes use less
than this share of a core before each run; a run during which they used more is repeated, at most --retries times).

Placement: the server on CPU 0 (taskset, its whole process tree), the generator on CPU 1, one UDP thread for every
server (except in `multicore`). Each run starts a fresh server, waits for its answers, warms up 2 s, then measures.
Rounds are interleaved (every server once per round, the order rotated). Results: .build/bench/<UTC time>-<figure>/
runs.csv (every run) and table.md (medians, and the median over rounds of gtmd's ratio to gdnsd in the same round).
Only ratios within one run are comparable: the machine is shared and absolute figures drift from run to run.

Server µs/query: `core` = busy time of the server's CPU (user, system, softirq; /proc/stat) / queries answered, the
figure of issue 17; `proc` = the server process's own utime+stime (/proc/<pid>/stat) / queries answered.
Loopback only (127.0.0.1, ports 25460-25469; probe targets 127.100.x.y).
"""
import argparse
import csv
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from genbuild import GEN_OUT, gen
from proctree import stat_table, stop_group, threads
from valgrind_copy import valgrind_copy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
CLK = os.sysconf("SC_CLK_TCK")
ADDR = "127.0.0.1"

# name -> (peer config dir, kind)
# server name -> kind (gtmd-b: gtmd's config on the --gtmd-b binary); kind -> peer config dir in bench/peers/.
# ceiling: bench/gen/ceiling.c, the least work a responder can do for the rows (prebuilt answers, no config).
SERVERS = {"gtmd": "gtmd", "gtmd-b": "gtmd", "gdnsd": "gdnsd", "ceiling": "ceiling"}
SERVERS_DIR = {"gtmd": "gtmd-gslb", "gdnsd": "gdnsd-gslb"}

# Rows: query file for blast/ratelat (bench/gen/dnsq.h format) and the equivalent for dnsperf (file, extra args).
ROWS = {
    "static": ("www.txt", ("www.txt", [])),
    "failover": ("fo.txt", ("fo.txt", [])),
    "nearest-ecs": ("near-ecs.txt", ("near.txt", ["-E", "8:000118000a0203"])),  # 10.2.3.0/24
    "mix": ("mix.txt", ("mix.txt", [])),
    "idle": (None, None),  # the probes figure: no queries
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Generators
# ---------------------------------------------------------------------------------------------------------------
def parse_stats(text):
    def g(pattern, cast=float, default=float("nan")):
        m = re.search(pattern, text)
        return cast(m.group(1)) if m else default
    r = dict(sent=g(r"Queries sent:\s+(\d+)", int, 0), answered=g(r"Queries completed:\s+(\d+)", int, 0),
             lost=g(r"Queries lost:\s+(\d+)", int, 0), qps=g(r"Queries per second:\s+([\d.]+)"))
    m = re.search(r"Response codes:\s+(.*)", text)
    r["rcodes"] = " ".join(f"{k}={v}" for k, v in re.findall(r"([A-Z0-9]+) (\d+) \(", m.group(1))) if m else ""
    m = re.search(r"latency_us (.*)", text)
    if m:
        for k, v in re.findall(r"(\w+)=([\d.]+)", m.group(1)):
            r["lat_" + k + "_us"] = float(v)
    m = re.search(r"send_lag_us (.*)", text)
    if m:
        for k, v in re.findall(r"(\w+)=([\d.]+)", m.group(1)):
            r["sendlag_" + k] = float(v)
    return r


# ---------------------------------------------------------------------------------------------------------------
# CPU accounting
# ---------------------------------------------------------------------------------------------------------------
def cpu_times():
    """/proc/stat per CPU: {cpuN: (total, idle+iowait)} in jiffies."""
    out = {}
    for line in open("/proc/stat"):
        if line.startswith("cpu") and line[3].isdigit():
            f = line.split()
            v = [int(x) for x in f[1:9]]
            out[f[0]] = (sum(v), v[3] + v[4])
    return out


def proc_jiffies(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        f = s[s.rindex(")") + 2:].split()
        return int(f[11]) + int(f[12])
    except (OSError, ValueError, IndexError):
        return None


def thread_ns(pid):
    """Thread name -> CPU time in ns of the threads of pid with that name (/proc/<pid>/task/*/schedstat)."""
    out = {}
    for name, ns, _ in threads(pid).values():
        out[name] = out.get(name, 0) + ns
    return out


def is_dns_thread(name):
    """A thread that answers UDP queries: gtmd-udp-N (gtmd), gdnsd-io-udp* (gdnsd), ceiling-udp."""
    return "udp" in name


class Foreign:
    """CPU used by processes that are neither this harness nor its descendants ('foreign' load), sampled every
    second from /proc/<pid>/stat, in % of one core."""

    def __init__(self):
        self.me = os.getpid()
        self.lock = threading.Lock()
        self.jiffies = 0
        self.samples = []  # (time, cumulative foreign jiffies)
        self.prev = None
        threading.Thread(target=self._loop, daemon=True).start()

    def _ours(self, table):
        ours = {self.me}
        changed = True
        while changed:
            changed = False
            for pid, (ppid, _) in table.items():
                if ppid in ours and pid not in ours:
                    ours.add(pid)
                    changed = True
        return ours

    def _loop(self):
        while True:
            t = stat_table()
            ours = self._ours(t)
            if self.prev is not None:
                d = 0
                for pid, (_, j) in t.items():
                    if pid in ours or pid not in self.prev:
                        continue
                    d += max(0, j - self.prev[pid][1])
                with self.lock:
                    self.jiffies += d
                    self.samples.append((time.monotonic(), self.jiffies))
                    self.samples = self.samples[-600:]
            self.prev = t
            time.sleep(1.0)

    def mark(self):
        with self.lock:
            return (time.monotonic(), self.jiffies)

    def since(self, m):
        with self.lock:
            t, j = time.monotonic(), self.jiffies
        return 100.0 * (j - m[1]) / CLK / max(t - m[0], 1e-3)

    def wait_quiet(self, pct, window=4.0, max_wait=900.0):
        t0 = time.monotonic()
        time.sleep(window)
        while True:
            with self.lock:
                s = list(self.samples)
            now = time.monotonic()
            old = [x for x in s if x[0] <= now - window]
            if old and s:
                a, b = old[-1], s[-1]
                load = 100.0 * (b[1] - a[1]) / CLK / max(b[0] - a[0], 1e-3)
                if load < pct or now - t0 > max_wait:
                    return now - t0, load
            time.sleep(1.0)


# ---------------------------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------------------------
def geo_nets(n=2000, seed=7):
    """The network rules both servers get: 10.1/16 -> region-a, 10.2/16 -> region-b, 10.3/16 -> region-c, and n
    random /24s spread over the three regions. Returns [(network, region)]."""
    rng = random.Random(seed)
    nets = [("10.1.0.0/16", "region-a"), ("10.2.0.0/16", "region-b"), ("10.3.0.0/16", "region-c")]
    seen = set()
    while len(seen) < n:
        a, b, c = rng.randint(11, 99), rng.randint(0, 255), rng.randint(0, 255)
        if (a, b, c) in seen:
            continue
        seen.add((a, b, c))
        nets.append((f"{a}.{b}.{c}.0/24", rng.choice(["region-a", "region-b", "region-c"])))
    return nets


# gtmd's order of the pools per client region (by distance); gdnsd's datacenter list per network is the same.
ORDER = {"region-a": ["region-a", "region-b", "region-c"], "region-b": ["region-b", "region-a", "region-c"],
         "region-c": ["region-c", "region-b", "region-a"]}


PROBE_KIND = ["tcp"]  # set from --probe-kind


def probe_targets(n):
    return [f"127.100.{i // 250}.{i % 250 + 1}" for i in range(n)]


def probe_groups(n, size=100):
    """The probe targets in groups of `size`: one pool + service (gtmd) or multifo resource (gdnsd, which refuses
    more than 360 addresses in one result) per group, behind many<G>.lab.example (never queried)."""
    t = probe_targets(n)
    return [t[k:k + size] for k in range(0, len(t), size)]


def render(kind, run, port, workers, probes, probe_port):
    if kind == "ceiling":
        return f'exec $WRAP "{gen("ceiling")}" -p {port} -s {ADDR}'
    nets = geo_nets()
    v = {"ADDR": ADDR, "PORT": str(port), "RUN": run, "WORKERS": str(workers), "NETS": f"{len(nets)} rules",
         "PROBES": str(probes)}
    zone = open(os.path.join(BENCH, "zones", "lab.example.zone")).read()
    if kind == "gtmd":
        by = {}
        for net, region in nets:
            by.setdefault(region, []).append(net)
        v["GTMD_NETS"] = "\n".join(f"    {r}: [{', '.join(l)}]" for r, l in by.items())
        v["GTMD_CHECKS"] = v["GTMD_PROBE_POOL"] = v["GTMD_PROBE_SERVICE"] = ""
        if probes:
            check = "type: http, path: /healthz" if PROBE_KIND[0] == "http" else "type: tcp"
            v["GTMD_CHECKS"] = (f"checks:\n  conn: {{ {check}, port: {probe_port}, interval: 2s, timeout: 1s, "
                                f"fall: 3, rise: 2 }}")
            groups = probe_groups(probes)
            v["GTMD_PROBE_POOL"] = "\n".join(
                f"  many{g}:\n    checks: [conn]\n    members:\n" + "\n".join(f"      - {a}" for a in members)
                for g, members in enumerate(groups))
            v["GTMD_PROBE_SERVICE"] = "\n".join(
                f"  many{g}.lab.example: {{ policy: all, pools: [many{g}], ttl: 30 }}" for g in range(len(groups)))
    else:
        with open(os.path.join(run, "nets.gdnsd"), "w") as f:
            for net, region in nets:
                f.write(f"{net} => [ {', '.join(ORDER[region])} ]\n")
        zone += "fo 30 DYNA simplefo!fo\nnear 30 DYNA geoip!near\n"
        v["GDNSD_SERVICE_TYPES"] = v["GDNSD_PROBE_PLUGIN"] = ""
        if probes:
            plugin = "http_status, url_path => /healthz" if PROBE_KIND[0] == "http" else "tcp_connect"
            v["GDNSD_SERVICE_TYPES"] = ("service_types => {\n  conn => { plugin => " + plugin + ", port => "
                                        f"{probe_port}, interval => 2, timeout => 1, up_thresh => 2, ok_thresh => 2, "
                                        "down_thresh => 3 }\n}")
            groups = probe_groups(probes)
            v["GDNSD_PROBE_PLUGIN"] = "  multifo => {\n" + "\n".join(
                f"    many{g} => {{\n      service_types => [ conn ]\n"
                + "\n".join(f"      m{i} => {a}" for i, a in enumerate(members)) + "\n    }"
                for g, members in enumerate(groups)) + "\n  }"
            zone += "".join(f"many{g} 30 DYNA multifo!many{g}\n" for g in range(len(groups)))
    with open(os.path.join(run, "lab.example.zone"), "w") as f:
        f.write(zone)
    d = os.path.join(BENCH, "peers", SERVERS_DIR[kind])
    for name in os.listdir(d):
        if not name.endswith(".in"):
            continue
        text = open(os.path.join(d, name)).read()

        def rep(m):
            if m.group(1) not in v:
                raise SystemExit(f"speed.py: unknown placeholder @{m.group(1)}@ in {d}/{name}")
            return v[m.group(1)]
        with open(os.path.join(run, name[:-3]), "w") as f:
            f.write(re.sub(r"@([A-Z_]+)@", rep, text))
    return open(os.path.join(d, "start")).read()



def build_query(qname, qtype=1, ecs=None):
    q = bytearray(b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00")
    for label in qname.strip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + qtype.to_bytes(2, "big") + b"\x00\x01"
    if ecs:
        addr, prefix = ecs.split("/")
        prefix = int(prefix)
        a = socket.inet_aton(addr)[: (prefix + 7) // 8]
        opt = (8).to_bytes(2, "big") + (4 + len(a)).to_bytes(2, "big") + b"\x00\x01" + bytes([prefix, 0]) + a
        q[11] = 1
        q += b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00" + len(opt).to_bytes(2, "big") + opt
    return bytes(q)


def ask(port, qname, ecs=None, timeout=0.3):
    """The A addresses of the answer section (simple parser: no compression in the question, A records only)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(build_query(qname, ecs=ecs), (ADDR, port))
        r, _ = s.recvfrom(4096)
    except OSError:
        return None
    finally:
        s.close()
    an = int.from_bytes(r[6:8], "big")
    o = 12
    while r[o]:
        o += r[o] + 1
    o += 5
    out = []
    for _ in range(an):
        if r[o] & 0xC0 == 0xC0:
            o += 2
        else:
            while r[o]:
                o += r[o] + 1
            o += 1
        rtype, rdlen = int.from_bytes(r[o:o + 2], "big"), int.from_bytes(r[o + 8:o + 10], "big")
        if rtype == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(r[o + 10:o + 14]))
        o += 10 + rdlen
    return out


# What every server must answer before a run counts (the same data in both).
EXPECT = [("www.lab.example", None, ["127.0.0.11"]), ("fo.lab.example", None, ["192.0.2.11"]),
          ("near.lab.example", "10.2.3.0/24", ["192.0.2.2"]), ("near.lab.example", "10.3.9.0/24", ["192.0.2.3"]),
          ("near.lab.example", "10.1.9.0/24", ["192.0.2.1"])]


class Server:
    def __init__(self, name, binary, port, workers, cpus, probes=0, probe_port=0, out=None, tag="", wrap="",
                 timeout=30, env=None):
        self.name, self.kind = name, SERVERS[name]
        self.run = tempfile.mkdtemp(prefix=f"gtmd-speed-{name}-")
        start = render(self.kind, self.run, port, workers, probes, probe_port)
        env = dict(os.environ, GTMD=binary or "", WRAP=wrap, **(env or {}))
        self.log = open(os.path.join(out, f"{name}{tag}.log"), "w") if out else subprocess.DEVNULL
        self.proc = subprocess.Popen(["taskset", "-c", cpus, "sh", "-c", start], cwd=self.run, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.port = port
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited at start (log {getattr(self.log, 'name', '')})")
            if all(ask(port, n, e) == want for n, e, want in EXPECT):
                break
            time.sleep(0.05)
        else:
            got = [(n, e, ask(port, n, e)) for n, e, _ in EXPECT]
            self.stop()
            raise RuntimeError(f"{name} does not answer as expected: {got}")
        self.pid = self.daemon_pid()

    def daemon_pid(self):
        """The pid of the process that serves (sh execs into it, so the child itself)."""
        return self.proc.pid

    def jiffies(self):
        return proc_jiffies(self.pid)

    def stop(self):
        stop_group(self.proc)
        shutil.rmtree(self.run, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------------------------
def load_cmd(args, figure, row, port, secs, gen_cpu):
    qdir = os.path.join(BENCH, "queries")
    if figure == "dnsperf":
        f, extra = ROWS[row][1]
        return ["taskset", "-c", gen_cpu, "dnsperf", "-s", ADDR, "-p", str(port), "-d", os.path.join(qdir, f),
                "-l", str(secs), "-c", "1", "-T", "1", "-q", "100", "-t", "1"] + extra
    if figure in ("latency", "matched"):
        return ["taskset", "-c", gen_cpu, gen("ratelat"), "-p", str(port), "-d", os.path.join(qdir, ROWS[row][0]),
                "-l", str(secs), "-r", str(args.rate)]
    return ["taskset", "-c", gen_cpu, gen("blast"), "-p", str(port), "-d", os.path.join(qdir, ROWS[row][0]),
            "-l", str(secs), "-c", str(args.sockets), "-w", str(args.window), "-b", "32"]


def one_run(args, figure, mon, name, row, rnd, variant):
    """A fresh server, warm-up, quiet gate, measured load. Returns a result dict."""
    workers = variant.get("workers", 1)
    probes = variant.get("probes", 0)
    cpus = "0,1" if figure == "multicore" else "0"
    gen_cpu = "1"
    port = 25460 + list(SERVERS).index(name)
    binary = {"gtmd": args.gtmd, "gtmd-b": args.gtmd_b}.get(name)
    env = dict(kv.split("=", 1) for kv in {"gtmd": args.gtmd_env, "gtmd-b": args.gtmd_b_env}.get(name) or [])
    res = dict(figure=figure, row=row, server=name, round=rnd, workers=workers, probes=probes)
    acceptor = None
    srv = None
    try:
        if probes:
            acceptor = subprocess.Popen(["taskset", "-c", "0", gen("acceptor"), str(args.probe_port),
                                         str(args.secs + 120)] + (["http"] if args.probe_kind == "http" else []),
                                        stdout=subprocess.PIPE, text=True)
        srv = Server(name, binary, port, workers, cpus, probes, args.probe_port, args.out, f"-{figure}-{row}-{rnd}",
                     env=env)
        if probes:
            time.sleep(args.probe_settle)  # every target probed a few times: the steady state
        if figure != "probes":
            subprocess.run(load_cmd(args, figure, row, port, 2, gen_cpu), capture_output=True, timeout=60)
        waited, pre = mon.wait_quiet(args.quiet_pct) if args.quiet_pct > 0 else (0, 0)
        res.update(quiet_wait_s=round(waited, 1), foreign_pre_pct=round(pre, 1))
        m = mon.mark()
        c0, j0, t0, th0 = cpu_times(), srv.jiffies(), time.monotonic(), thread_ns(srv.pid)
        if figure == "probes":
            time.sleep(args.secs)
            r = subprocess.CompletedProcess([], 0, "", "")
        else:
            r = subprocess.run(load_cmd(args, figure, row, port, args.secs, gen_cpu), capture_output=True,
                               text=True, timeout=args.secs + 60)
        c1, j1, t1, th1 = cpu_times(), srv.jiffies(), time.monotonic(), thread_ns(srv.pid)
        # Per thread: the DNS threads' CPU per query, the rest of the process (the probe thread, or gdnsd's main
        # thread, which monitors) per probe; schedstat's run time, in ns.
        used = {k: th1[k] - th0.get(k, 0) for k in th1}
        res["threads_ms"] = " ".join(f"{k}={v / 1e6:.1f}" for k, v in sorted(used.items()) if v > 0)
        dns_ns = sum(v for k, v in used.items() if is_dns_thread(k))
        rest_ns = sum(v for k, v in used.items() if not is_dns_thread(k))
        if probes:
            res["rest_us_probe"] = round(rest_ns / 1e3 / (probes / 2.0 * (t1 - t0)), 1)
        res["foreign_pct"] = round(mon.since(m), 1)
        if srv.proc.poll() is not None:
            raise RuntimeError(f"{name} died during the run")
        if figure == "probes":
            res["probe_us"] = round((j1 - j0) / CLK * 1e6 / (probes / 2.0 * (t1 - t0)), 1)
            res["srv_cpu_pct"] = round(100.0 * (j1 - j0) / CLK / (t1 - t0), 1)
            res["ok"] = 1
            return res
        with open(os.path.join(args.out, f"{name}-{figure}-{row}-{rnd}-{variant.get('label', '')}.gen.txt"), "w") as f:
            f.write(r.stdout + r.stderr)
        res.update(parse_stats(r.stdout))
        n = max(res["answered"], 1)
        res["proc_us"] = round((j1 - j0) / CLK * 1e6 / n, 3)
        res["dns_us"] = round(dns_ns / 1e3 / n, 3)
        res["srv_cpu_pct"] = round(100.0 * (j1 - j0) / CLK / (t1 - t0), 1)
        for cpu in ("cpu0", "cpu1"):
            tot = c1[cpu][0] - c0[cpu][0]
            busy = tot - (c1[cpu][1] - c0[cpu][1])
            res[f"{cpu}_busy_pct"] = round(100.0 * busy / tot, 1) if tot else float("nan")
        if figure != "multicore":
            busy0 = (c1["cpu0"][0] - c0["cpu0"][0]) - (c1["cpu0"][1] - c0["cpu0"][1])
            res["core_us"] = round(busy0 / CLK * 1e6 / n, 3)
        res["ok"] = 1
    except Exception as e:  # noqa: BLE001 - a failed run is recorded, not fatal
        res["ok"] = 0
        res["error"] = str(e).splitlines()[0][:300]
        log(f"{name} {row} round {rnd}: {e}")
    finally:
        if srv:
            srv.stop()
        if acceptor:
            acceptor.terminate()
            res["probe_accepts"] = (acceptor.communicate()[0] or "").strip()
    return res


def clean_run(args, figure, mon, name, row, rnd, variant):
    for attempt in range(args.retries + 1):
        r = one_run(args, figure, mon, name, row, rnd, variant)
        r["attempt"] = attempt
        r["clean"] = int(r.get("ok") == 1 and r.get("foreign_pct", 1e9) <= args.dirty_pct)
        if r["clean"]:
            return r
        log(f"  {name} {row} round {rnd}: not clean (foreign {r.get('foreign_pct')}%, ok {r.get('ok')}), again")
    return r


FIELDS = ["figure", "row", "server", "round", "workers", "probes", "probe_us", "rest_us_probe", "qps", "answered", "sent", "lost", "core_us",
          "proc_us", "dns_us", "threads_ms", "srv_cpu_pct", "cpu0_busy_pct", "cpu1_busy_pct", "lat_p50_us", "lat_p90_us", "lat_p99_us",
          "lat_p999_us", "lat_p9999_us", "lat_max_us", "lat_mean_us", "sendlag_p99", "sendlag_max", "sendlag_over50us",
          "rcodes", "probe_accepts", "foreign_pre_pct", "foreign_pct", "quiet_wait_s", "attempt", "clean", "ok",
          "error"]


def run_figure(args, figure, rows, variants):
    mon = Foreign()
    names = args.servers.split(",")
    runs = []
    with open(os.path.join(args.out, "runs.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS, extrasaction="ignore")
        w.writeheader()
        for rnd in range(args.rounds):
            for variant in variants:
                for row in rows:
                    order = names[rnd % len(names):] + names[:rnd % len(names)]
                    for name in order:
                        r = clean_run(args, figure, mon, name, row, rnd, variant)
                        r["variant"] = variant.get("label", "")
                        runs.append(r)
                        w.writerow(r)
                        f.flush()
                        log(f"round {rnd} {variant.get('label', ''):>12} {row:>11} {name:>6}: "
                            + (f"{r.get('qps', 0):>9.0f} qps  core {r.get('core_us', '-')} µs/q  proc "
                               f"{r.get('proc_us')} µs/q  lost {r.get('lost')}"
                               + (f"  p99 {r.get('lat_p99_us')} p99.9 {r.get('lat_p999_us')} µs" if figure in ("latency", "matched")
                                  else "")
                               + (f"  {r.get('probe_us')} µs/probe" if figure == "probes" else "")
                               + f"  foreign {r.get('foreign_pct')}%" if r.get("ok") else f"FAILED {r.get('error')}"))
    return runs


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def table(args, figure, runs, metrics):
    """Markdown: per (variant, row, server) the median of each metric, and each server's per-round ratio to the
    --ratio-to server (gdnsd unless told)."""
    ref = args.ratio_to
    ok = [r for r in runs if r.get("ok") == 1]
    names = args.servers.split(",")
    lines = [f"{figure}: {args.rounds} interleaved rounds of {args.secs} s; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"{machine()}", ""]
    head = "| variant | row | server | " + " | ".join(m[1] for m in metrics) + " | " + \
           " | ".join(f"{m[1]} ÷ {ref} (median of rounds)" for m in metrics if m[2]) + " | clean runs |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    keys = sorted({(r["variant"], r["row"]) for r in ok}, key=lambda k: ([x.get("label", "") for x in VARIANTS_SEEN]
                                                                         .index(k[0]) if k[0] in
                                                                         [x.get("label", "") for x in VARIANTS_SEEN]
                                                                         else 0, list(ROWS).index(k[1])))
    for variant, row in keys:
        for name in names:
            mine = [r for r in ok if r["variant"] == variant and r["row"] == row and r["server"] == name]
            if not mine:
                continue
            cells = []
            for key, label, ratio in metrics:
                cells.append(fmt(med([float(r.get(key, "nan")) for r in mine])))
            ratios = []
            for key, label, ratio in metrics:
                if not ratio:
                    continue
                if name == ref:
                    ratios.append("")
                    continue
                rs = []
                for rnd in range(args.rounds):
                    a = [float(r.get(key, "nan")) for r in mine if r["round"] == rnd]
                    b = [float(r.get(key, "nan")) for r in ok if r["variant"] == variant and r["row"] == row
                         and r["server"] == ref and r["round"] == rnd]
                    if a and b and b[0]:
                        rs.append(a[0] / b[0])
                ratios.append(f"{med(rs):.3f}" if rs else "")
            n = len([r for r in runs if r["variant"] == variant and r["row"] == row and r["server"] == name
                     and r.get("clean")])
            lines.append(f"| {variant} | {row} | {name} | " + " | ".join(cells) + " | " + " | ".join(ratios)
                         + f" | {n}/{args.rounds} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(text)
    print(text)
    print(f"raw: {args.out}")


VARIANTS_SEEN = []


def fmt(x):
    if x != x:
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.2f}"


def machine():
    model = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} × {model}, Linux {os.uname().release}"


# ---------------------------------------------------------------------------------------------------------------
# syscalls per query (diagnostic)
# ---------------------------------------------------------------------------------------------------------------
def ctx_switches(pid):
    """Context switches (voluntary + involuntary) of all threads of pid."""
    return sum(switches for _, _, switches in threads(pid).values())


def callgrind_total(args, cg):
    """The instructions of every thread's dump of callgrind output file `cg` (--separate-threads is off: one
    file per dump)."""
    total = 0
    for f in os.listdir(args.out):
        if f.startswith(os.path.basename(cg)) and f != os.path.basename(cg):
            m = re.search(r"^totals: (\d+)", open(os.path.join(args.out, f)).read(), re.M)
            total += int(m.group(1)) if m else 0
    return total


def probe_instructions(args, name, binary, port, cg, wrap, env):
    """The `idle` row of `instructions`: no queries, --probes TCP targets every 2 s; user-space instructions of the
    whole server per probe (probes counted as connect(2) calls by a perf tracepoint over the same window)."""
    acceptor = subprocess.Popen(["taskset", "-c", "1", gen("acceptor"), str(args.probe_port), str(args.secs + 300)]
                                + (["http"] if args.probe_kind == "http" else []), stdout=subprocess.PIPE, text=True)
    srv = None
    try:
        srv = Server(name, binary, port, 1, "0", args.probes, args.probe_port, out=args.out, tag="-callgrind-idle",
                     wrap=wrap, timeout=180, env=env)
        time.sleep(args.probe_settle)
        # valgrind runs the server as one process (the tool's pid is the server's)
        subprocess.run(["callgrind_control", "-z", str(srv.pid)], capture_output=True, check=True, timeout=60)
        r = subprocess.run(["perf", "stat", "-x,", "-e", "syscalls:sys_enter_connect", "-p", str(srv.pid), "--",
                            "sleep", str(args.secs)], capture_output=True, text=True, timeout=args.secs + 60)
        subprocess.run(["callgrind_control", "-d", str(srv.pid)], capture_output=True, check=True, timeout=60)
        m = re.search(r"^(\d+),,syscalls:sys_enter_connect", r.stderr, re.M)
        if not m:
            raise RuntimeError(f"perf stat gave no connect count: {r.stderr.strip()[:200]}")
        probes = int(m.group(1))
        total = callgrind_total(args, cg)
        per = total / max(probes, 1)
        log(f"       idle {name:>6}: {probes} probes, {total} instructions, {per:.0f} per probe")
        return ("idle", name, probes, total, per, f"{args.probes} {args.probe_kind} targets")
    finally:
        if srv:
            srv.stop()
        acceptor.terminate()
        acceptor.communicate()


def instructions(args):
    """User-space instructions per reply under callgrind, per server and row."""
    if not shutil.which("valgrind"):
        raise SystemExit("speed.py: valgrind is missing (apt-get install valgrind)")
    rows_out = []
    # A copy valgrind runs (no debug sections, writable constants: see bench/valgrind_copy.py).
    stripped = {}
    for name, path in (("gtmd", args.gtmd), ("gtmd-b", args.gtmd_b)):
        if path:
            stripped[name] = os.path.join(args.out, f"{name}.nodebug")
            valgrind_copy(path, stripped[name])
    shim = os.path.join(GEN_OUT, "vgshim.so")
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", shim, os.path.join(BENCH, "gen", "vgshim.c")], check=True)
    for row in args.rows.split(","):
        for name in args.servers.split(","):
            binary = stripped.get(name)
            port = 25460 + list(SERVERS).index(name)
            cg = os.path.join(args.out, f"callgrind-{name}-{row}.out")
            wrap = f"valgrind --tool=callgrind --read-var-info=no --callgrind-out-file={cg}"
            env = {"LD_PRELOAD": shim} if SERVERS[name] == "gtmd" else {}
            if row == "idle":
                rows_out.append(probe_instructions(args, name, binary, port, cg, wrap, env))
                continue
            srv = Server(name, binary, port, 1, "0", out=args.out, tag=f"-callgrind-{row}", wrap=wrap, timeout=180,
                         env=env)
            try:
                # Deep enough that every receive finds a full batch (gtmd 64, gdnsd 16), short enough that no reply
                # is later than blast's timeout under valgrind's slowdown.
                cmd = lambda secs: ["taskset", "-c", "1", gen("blast"), "-p", str(port), "-d",
                                    os.path.join(BENCH, "queries", ROWS[row][0]), "-l", str(secs), "-c", "4", "-w",
                                    "32", "-b", "32", "-t", "2000"]
                subprocess.run(cmd(3), capture_output=True, timeout=60)
                subprocess.run(["callgrind_control", "-z", str(srv.pid)], capture_output=True, check=True, timeout=60)
                r = subprocess.run(cmd(args.secs), capture_output=True, text=True, timeout=args.secs + 60)
                subprocess.run(["callgrind_control", "-d", str(srv.pid)], capture_output=True, check=True, timeout=60)
                s = parse_stats(r.stdout)
                late = int(re.search(r"Late replies:\s+(\d+)", r.stdout).group(1))
                total = callgrind_total(args, cg)
                replies = s["answered"] + late
                per = total / max(replies, 1)
                rows_out.append((row, name, replies, total, per, s["rcodes"]))
                log(f"{row:>11} {name:>6}: {replies} replies, {total} instructions, {per:.0f} per reply")
            finally:
                srv.stop()
    lines = [f"instructions: user-space instructions per reply (valgrind {subprocess.run(['valgrind', '--version'], capture_output=True, text=True).stdout.strip()}, "
             f"callgrind, {args.secs} s of blast -c 4 -w 32 after a 3 s warm-up); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             f"| row | server | replies (idle: probes) | instructions | per reply (idle: per probe) | ÷ {args.ratio_to} |", "|---|---|---|---|---|---|"]
    for row, name, replies, total, per, rc in rows_out:
        base = [x[4] for x in rows_out if x[0] == row and x[1] == args.ratio_to]
        lines.append(f"| {row} | {name} | {replies} | {total:,} | {per:,.0f} | {per / base[0]:.3f} |" if base
                     else f"| {row} | {name} | {replies} | {total:,} | {per:,.0f} | |")
    text = "\n".join(lines) + "\n"
    open(os.path.join(args.out, "table.md"), "w").write(text)
    print(text)
    print(f"raw: {args.out}")


def syscalls(args):
    events = ["syscalls:sys_enter_recvmmsg", "syscalls:sys_enter_sendmmsg", "syscalls:sys_enter_recvmsg",
              "syscalls:sys_enter_sendmsg", "syscalls:sys_enter_recvfrom", "syscalls:sys_enter_sendto"]
    for name in args.servers.split(","):
        for row in args.rows.split(","):
            binary = {"gtmd": args.gtmd, "gtmd-b": args.gtmd_b}.get(name)
            port = 25460 + list(SERVERS).index(name)
            srv = Server(name, binary, port, 1, "0", out=args.out, tag=f"-syscalls-{row}")
            try:
                subprocess.run(load_cmd(args, "saturated", row, port, 2, "1"), capture_output=True, timeout=60)
                perf = subprocess.Popen(["perf", "stat", "-x,", "-e", ",".join(events), "-p", str(srv.pid)],
                                        stderr=subprocess.PIPE, text=True)
                x0 = ctx_switches(srv.pid)
                r = subprocess.run(load_cmd(args, "saturated", row, port, args.secs, "1"), capture_output=True,
                                   text=True, timeout=args.secs + 60)
                x1 = ctx_switches(srv.pid)
                perf.send_signal(signal.SIGINT)
                err = perf.communicate(timeout=30)[1]
                s = parse_stats(r.stdout)
                counts = {}
                for line in err.splitlines():
                    f = line.split(",")
                    if len(f) > 2 and f[2].startswith("syscalls:"):
                        counts[f[2].split("_enter_")[1]] = int(f[0]) if f[0].isdigit() else 0
                n = max(s["answered"], 1)
                per = "  ".join(f"{k} {v / n:.4f}/q ({n / v:.1f} q/call)" if v else f"{k} 0" for k, v in counts.items())
                print(f"{name:>6} {row:>11}: {s['qps']:>9.0f} qps  {per}  context switches {(x1 - x0) / n:.4f}/q")
            finally:
                srv.stop()


# ---------------------------------------------------------------------------------------------------------------
def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("figure", choices=["saturated", "dnsperf", "latency", "matched", "probes", "multicore", "instructions",
                                      "syscalls"])
    p.add_argument("--servers", default="gtmd,gdnsd")
    p.add_argument("--ratio-to", default="gdnsd", help="the server the ratio columns divide by (gdnsd, ceiling, ...)")
    p.add_argument("--rows", default=None, help="comma-separated rows (default per figure)")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--secs", type=float, default=None)
    p.add_argument("--rate", type=int, default=None, help="latency (default 50000), matched (default 100000): "
                   "queries per second")
    p.add_argument("--probes", type=int, default=2000, help="latency: probe targets (interval 2 s)")
    p.add_argument("--probe-port", type=int, default=25479)
    p.add_argument("--probe-kind", choices=["tcp", "http"], default="tcp", help="latency, probes: the check type")
    p.add_argument("--probe-settle", type=float, default=6.0)
    p.add_argument("--sockets", type=int, default=4, help="blast sockets")
    p.add_argument("--window", type=int, default=64, help="blast queries in flight per socket")
    p.add_argument("--gtmd", default=None)
    p.add_argument("--gtmd-b", default=None)
    p.add_argument("--gtmd-env", action="append", metavar="KEY=VALUE", help="environment of gtmd (repeatable)")
    p.add_argument("--gtmd-b-env", action="append", metavar="KEY=VALUE", help="environment of gtmd-b (repeatable)")
    p.add_argument("--quiet-pct", type=float, default=10.0)
    p.add_argument("--dirty-pct", type=float, default=10.0)
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    defaults = {"saturated": (5, 10, "static,failover,nearest-ecs"), "dnsperf": (5, 10, "static,failover,nearest-ecs"),
                "latency": (3, 20, "mix"), "matched": (3, 8, "static,failover,nearest-ecs"), "probes": (5, 10, "idle"), "multicore": (5, 10, "static"),
                "syscalls": (1, 5, "static,failover,nearest-ecs"),
                "instructions": (1, 10, "static,failover,nearest-ecs")}
    rounds, secs, rows = defaults[args.figure]
    args.rounds = args.rounds or rounds
    args.secs = args.secs or secs
    args.rows = args.rows or rows
    args.rate = args.rate or (100000 if args.figure == "matched" else 50000)
    if args.gtmd is None:
        args.gtmd = os.path.join(ROOT, ".build", "release", "gtmd")
        if not os.path.exists(args.gtmd):
            subprocess.run(["swift", "build", "-c", "release", "--product", "gtmd"], cwd=ROOT, check=True)
    args.gtmd = os.path.abspath(args.gtmd)
    if args.gtmd_b:
        args.gtmd_b = os.path.abspath(args.gtmd_b)
    elif "gtmd-b" in args.servers:
        raise SystemExit("speed.py: gtmd-b needs --gtmd-b BINARY")
    for tool in ("gdnsd", "dnsperf", "taskset", "gcc"):
        if not shutil.which(tool):
            raise SystemExit(f"speed.py: {tool} is missing (scripts/deps.sh --bench)")
    args.out = args.out or os.path.join(ROOT, ".build", "bench",
                                        time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + args.figure)
    os.makedirs(args.out, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    if args.figure == "syscalls":
        return syscalls(args)
    if args.figure == "instructions":
        return instructions(args)
    rows = args.rows.split(",")
    PROBE_KIND[0] = args.probe_kind
    if args.figure == "probes":
        variants = [{"label": f"{args.probes} {args.probe_kind} targets", "probes": args.probes}]
        metrics = [("probe_us", "server CPU µs/probe", True), ("rest_us_probe", "non-DNS threads µs/probe", True),
                   ("srv_cpu_pct", "server CPU %", False)]
    elif args.figure == "latency":
        variants = [{"label": "no probes"}, {"label": f"{args.probes} targets", "probes": args.probes}]
        metrics = [("qps", "qps", False), ("lat_p50_us", "p50 µs", True), ("lat_p99_us", "p99 µs", True),
                   ("lat_p999_us", "p99.9 µs", True), ("lat_max_us", "max µs", False), ("lost", "lost", False),
                   ("proc_us", "proc µs/q", True), ("dns_us", "DNS thread µs/q", True),
                   ("rest_us_probe", "non-DNS threads µs/probe", True), ("sendlag_over50us", "sends >50 µs late", False)]
    elif args.figure == "matched":
        variants = [{"label": f"{args.rate} qps"}]
        metrics = [("qps", "qps", False), ("lost", "lost", False), ("core_us", "core µs/q", True),
                   ("proc_us", "proc µs/q", True), ("dns_us", "DNS thread µs/q", True), ("lat_p99_us", "p99 µs", True),
                   ("sendlag_over50us", "sends >50 µs late", False)]
    elif args.figure == "multicore":
        variants = [{"label": "1 worker", "workers": 1}, {"label": "2 workers", "workers": 2}]
        metrics = [("qps", "qps", True), ("proc_us", "proc µs/q", True), ("srv_cpu_pct", "server CPU %", False),
                   ("lost", "lost", False)]
    else:
        variants = [{"label": "1 worker"}]
        metrics = [("qps", "qps", True), ("core_us", "core µs/q", True), ("proc_us", "proc µs/q", True),
                   ("lost", "lost", False)]
    VARIANTS_SEEN.extend(variants)
    runs = run_figure(args, args.figure, rows, variants)
    table(args, args.figure, runs, metrics)


if __name__ == "__main__":
    main()
