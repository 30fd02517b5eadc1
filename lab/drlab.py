#!/usr/bin/env python3
"""gtmd disaster-recovery lab: an estate in network namespaces, failure scenarios, client-visible RTO.

Needs root, iproute2 (ip, tc), unbound, python3 and a built gtmd. See lab/README.md.

  drlab.py run  [--profile fast|default] [--scenarios stop,blackhole,cut,slow,flap] [--ttl N] [--json F]
                build an estate, run each scenario with both clients measuring, print the table, tear down
  drlab.py up   [--profile ...]            build an estate and keep it until Ctrl-C (then tear down)
  drlab.py fail stop|blackhole|cut|slow|flap [--region r1] [--id ID]   inject a failure into a running estate
  drlab.py restore [--region r1|all] [--id ID]                         undo every failure of a region
  drlab.py query [--via resolver|gtmd] [--id ID]                       one query from the client host
  drlab.py list                            estates on this machine (and whether their owner still runs)
  drlab.py down [--id ID | --all]          remove estates whose owner died (crashed runs), one, or all
  drlab.py report FILE.json...             medians over several `run --json` results, as a markdown table
"""
import argparse
import json
import os
import random
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time

PREFIX = "gtlab"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_ROOT = os.environ.get("GTMD_LAB_RUN", "/run/gtmd-lab" if os.access("/run", os.W_OK) else "/tmp/gtmd-lab")
ZONE = "lab.example"
NAME = "www.lab.example"
HEALTH_PORT = 8081
REGIONS = ["r1", "r2", "r3"]          # failover order: r1 primary, r2 standby, r3 last resort
HOSTS = ["client", "resolver", "gtmd"] + REGIONS
SUBNET = {"client": 1, "resolver": 2, "gtmd": 3, "r1": 11, "r2": 12, "r3": 13}


def addr(role):
    """The host's address on its link to the router (the router is .1 on each /24)."""
    return f"10.77.{SUBNET[role]}.2"


ADDR_REGION = {addr(r): r for r in REGIONS}

# gtmd's defaults (Sources/Health/CheckSpec.swift CheckDefaults, Sources/Config/Services.swift): the
# "default" profile writes no check timing or TTL keys, so gtmd uses these; they are here for the bounds.
DEFAULTS = {"interval": 5.0, "timeout": 2.0, "fall": 3, "rise": 2, "ttl": 30, "degraded_ttl": 5}
PROFILES = {
    # interval 1 s, fall 2, degraded TTL 5 s; timeout may not exceed the interval, so 1 s.
    "fast": {"interval": 1.0, "timeout": 1.0, "fall": 2, "rise": 2, "ttl": 30, "degraded_ttl": 5, "explicit": True},
    "default": dict(DEFAULTS, explicit=False),
}
JITTER = 0.10           # HealthMonitor scales every wait by 1 ± 10 %
SLACK = 0.35            # publishing (ms) + the client's 100 ms query period + scheduling on a busy machine
UNBOUND_CLOCK = 1.0     # unbound keeps time in whole seconds: a cached answer can live up to 1 s past its TTL
QUERY_PERIOD = 0.1
# One way, towards the region: an HTTP probe needs two round trips (connect, request), so 1.2 s in all.
# Without sch_netem in the kernel the backend itself answers 1.2 s late (and there is no loss).
SLOW = {"delay": "600ms", "loss": "5%", "fallback_delay": 1.2}
FLAP = {"down": 4.0, "up": 4.0, "cycles": 3}


def fast_interval(p):
    return min(max(p["interval"] / 5, 0.1), 1.0)


def bounds(p):
    """Worst-case times (seconds) from the formula in lab/README.md."""
    i, t, f, r, fi = p["interval"], p["timeout"], p["fall"], p["rise"], fast_interval(p)
    detect = (1 + JITTER) * i + (f - 1) * max((1 + JITTER) * fi, t) + t
    recover = (1 + JITTER) * i + (r - 1) * (1 + JITTER) * fi + t
    return {
        "detect": detect,
        "direct": detect + SLACK,
        "resolver": detect + SLACK + p["ttl"] + UNBOUND_CLOCK,
        "back_direct": recover + SLACK,
        "back_resolver": recover + SLACK + p["degraded_ttl"] + UNBOUND_CLOCK,
    }


# ---------------------------------------------------------------------------------------------------
# Commands and namespaces


class LabError(Exception):
    pass


def sh(*args, check=True):
    r = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise LabError(f"command failed ({r.returncode}): {' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def ns_name(lab_id, role):
    return f"{PREFIX}-{lab_id}-{role}"


def list_namespaces():
    out = sh("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX + "-")]


def pid_alive(pid):
    """True while `pid` runs (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_namespace_processes(ns):
    """SIGTERM, then SIGKILL, every process the lab started inside `ns` (bounded: 3 s)."""
    pids = [int(p) for p in sh("ip", "netns", "pids", ns, check=False).stdout.split()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
            time.sleep(0.05)
        pids = [p for p in pids if pid_alive(p)]
        if not pids:
            return


def remove_estate(lab_id):
    for ns in list_namespaces():
        if ns.startswith(f"{PREFIX}-{lab_id}-"):
            kill_namespace_processes(ns)
            sh("ip", "netns", "del", ns, check=False)
    for path in (os.path.join(RUN_ROOT, lab_id), f"/etc/unbound/gtmd-lab-{lab_id}.conf"):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.unlink(path)


def estates():
    """{id: owner pid or None} for every estate with namespaces or a run folder on this machine."""
    found = {}
    for ns in list_namespaces():
        found.setdefault(ns.split("-")[1], None)
    if os.path.isdir(RUN_ROOT):
        for d in os.listdir(RUN_ROOT):
            found.setdefault(d, None)
    for lab_id in found:
        try:
            with open(os.path.join(RUN_ROOT, lab_id, "state.json")) as f:
                found[lab_id] = json.load(f).get("owner")
        except (OSError, ValueError):
            try:   # a run folder made a moment ago by a starting run: leave it to its owner
                if time.time() - os.stat(os.path.join(RUN_ROOT, lab_id)).st_mtime < 30:
                    found[lab_id] = os.getpid()
            except OSError:
                pass
    return found


def cleanup_dead(verbose=True):
    for lab_id, owner in estates().items():
        if owner is None or not pid_alive(owner):
            if verbose:
                print(f"drlab: removing leftovers of estate {lab_id} (owner {owner} is gone)", file=sys.stderr)
            remove_estate(lab_id)


# ---------------------------------------------------------------------------------------------------
# The estate


def gtmd_binary(explicit):
    for c in [explicit, os.environ.get("GTMD_BIN"), os.path.join(REPO, ".build/release/gtmd"),
              os.path.join(REPO, ".build/debug/gtmd")]:
        if c and os.access(c, os.X_OK):
            return os.path.abspath(c)
    raise LabError("no gtmd binary: build it (scripts/build-release.sh) or pass --gtmd PATH")


def check_prerequisites():
    if os.geteuid() != 0:
        raise LabError("the lab needs root (ip netns, veth, tc)")
    for tool in ("ip", "tc", "unbound", "unbound-checkconf"):
        if not shutil.which(tool):
            raise LabError(f"'{tool}' is missing: apt-get install -y iproute2 unbound (or run scripts/deps.sh)")


def apparmor_enforces_unbound():
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            enabled = f.read().strip() == "Y"
        with open("/sys/kernel/security/apparmor/profiles") as f:
            return enabled and any(line.startswith("unbound ") for line in f)
    except OSError:
        return False


class Estate:
    """One lab estate: namespaces, links, processes and its run folder. Owner = the process that built it."""

    def __init__(self, lab_id, profile_name, ttl=None, gtmd=None):
        self.id = lab_id
        self.dir = os.path.join(RUN_ROOT, lab_id)
        self.profile_name = profile_name
        self.profile = dict(PROFILES[profile_name])
        if ttl is not None:
            self.profile["ttl"] = ttl
            self.profile["degraded_ttl"] = min(self.profile["degraded_ttl"], ttl)
        self.gtmd = gtmd
        self.pids = {}

    @staticmethod
    def load(lab_id=None):
        live = {i: o for i, o in estates().items() if o and pid_alive(o)}
        if lab_id is None:
            if len(live) != 1:
                raise LabError(f"{len(live)} running estates ({', '.join(live) or 'none'}): say which with --id")
            lab_id = next(iter(live))
        with open(os.path.join(RUN_ROOT, lab_id, "state.json")) as f:
            st = json.load(f)
        e = Estate(lab_id, st["profile_name"], gtmd=st["gtmd"])
        e.profile, e.pids = st["profile"], st["pids"]
        return e

    def save(self, owner):
        tmp = os.path.join(self.dir, "state.json.tmp")
        with open(tmp, "w") as f:
            json.dump({"owner": owner, "profile_name": self.profile_name, "profile": self.profile,
                       "pids": self.pids, "gtmd": self.gtmd}, f)
        os.replace(tmp, os.path.join(self.dir, "state.json"))

    def ns(self, role):
        return ns_name(self.id, role)

    def ip(self, role, *args, check=True):
        return sh("ip", "-n", self.ns(role), *args, check=check)

    def spawn(self, role, key, argv, log):
        out = open(os.path.join(self.dir, log), "ab")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(role)] + argv, stdout=out, stderr=out,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self.pids[key] = p.pid
        return p

    # -- building ------------------------------------------------------------------------------------

    def build(self):
        os.makedirs(self.dir, exist_ok=True)
        self.save(os.getpid())           # from here on, `down` knows whose estate this is
        for role in ["router"] + HOSTS:
            sh("ip", "netns", "add", self.ns(role))
            self.ip(role, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", self.ns("router"), "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
        for role in HOSTS:
            n = SUBNET[role]
            # The router's end is named after the host; the host's end is eth0.
            self.ip("router", "link", "add", role, "type", "veth", "peer", "name", "eth0", "netns", self.ns(role))
            self.ip("router", "addr", "add", f"10.77.{n}.1/24", "dev", role)
            self.ip("router", "link", "set", role, "up")
            self.ip(role, "addr", "add", f"{addr(role)}/24", "dev", "eth0")
            self.ip(role, "link", "set", "eth0", "up")
            self.ip(role, "route", "add", "default", "via", f"10.77.{n}.1")
        for r in REGIONS:
            self.start_backend(r)
        for r in REGIONS:
            wait_until(f"backend {r} listening", 10, lambda r=r: self.tcp_ok("gtmd", addr(r), HEALTH_PORT))
        self.write_gtmd_config()
        self.start_gtmd()
        self.write_unbound_config()
        self.start_unbound()
        self.save(os.getpid())

    def tcp_ok(self, role, host, port):
        code = f"import socket;socket.create_connection(('{host}',{port}),timeout=0.5).close()"
        return sh("ip", "netns", "exec", self.ns(role), sys.executable, "-c", code, check=False).returncode == 0

    def start_backend(self, region):
        self.spawn(region, f"backend-{region}",
                   [sys.executable, os.path.join(REPO, "Tests/tools/lab_backend.py"), addr(region), str(HEALTH_PORT),
                    f"{SLOW['fallback_delay']:g}"], f"backend-{region}.log")

    def write_gtmd_config(self):
        p = self.profile
        with open(os.path.join(self.dir, "lab.example.zone"), "w") as f:
            f.write(f"""$ORIGIN {ZONE}.
$TTL 300
@    IN SOA ns1 hostmaster 1 3600 600 86400 30
     IN NS  ns1
ns1  IN A   {addr('gtmd')}
; www has no records here: gtmd answers it from its pools (a record there would be an error in gtmd check)
""")
        timing = ""
        if p["explicit"]:
            timing = f", interval: {p['interval']:g}s, timeout: {p['timeout']:g}s, fall: {p['fall']}, rise: {p['rise']}"
        ttls = f"    ttl: {p['ttl']}\n    degraded_ttl: {p['degraded_ttl']}\n"
        if not p["explicit"] and p["ttl"] == DEFAULTS["ttl"]:
            ttls = "    # ttl and degraded_ttl: gtmd's defaults\n"
        pools = "".join(f"  {r}: {{ checks: [healthz], members: [{addr(r)}] }}\n" for r in REGIONS)
        with open(os.path.join(self.dir, "gtmd.yaml"), "w") as f:
            f.write(f"""# Written by lab/drlab.py (profile {self.profile_name}).
server:
  listen: ["{addr('gtmd')}:53"]
  udp_workers: 1
  nsid: gtmd-lab-{self.id}
zones:
  - origin: {ZONE}
    file: lab.example.zone
state_file: gtmd-state.json
checks:
  healthz: {{ type: http, port: {HEALTH_PORT}, path: /healthz, expect_status: 200{timing} }}
pools:
{pools}services:
  {NAME}:
    policy: failover
    pools: [{', '.join(REGIONS)}]
{ttls}    failback: auto
""")
        r = sh(self.gtmd, "check", "--config", os.path.join(self.dir, "gtmd.yaml"), check=False)
        if r.returncode != 0:
            raise LabError(f"gtmd check refused the lab config:\n{r.stdout}{r.stderr}")

    def start_gtmd(self):
        ready = os.path.join(self.dir, "ready.json")
        p = self.spawn("gtmd", "gtmd", [self.gtmd, "serve", "--config", os.path.join(self.dir, "gtmd.yaml"),
                                        "--ready-file", ready], "gtmd.log")

        def ready_or_dead():
            if p.poll() is not None:
                raise LabError(f"gtmd exited ({p.returncode}); see {self.dir}/gtmd.log:\n{self.tail('gtmd.log')}")
            return os.path.exists(ready)
        wait_until("gtmd ready file", 30, ready_or_dead)

    def write_unbound_config(self):
        # With an AppArmor profile for /usr/sbin/unbound in force, unbound may read only /etc/unbound/**.
        conf = os.path.join(self.dir, "unbound.conf")
        if apparmor_enforces_unbound():
            conf = f"/etc/unbound/gtmd-lab-{self.id}.conf"
        self.unbound_conf = conf
        with open(conf, "w") as f:
            f.write(f"""# Written by lab/drlab.py: the clients' caching resolver, {ZONE} delegated (stub) to gtmd.
server:
    interface: {addr('resolver')}
    port: 53
    access-control: 10.77.0.0/16 allow
    do-ip6: no
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{os.path.dirname(conf)}"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    module-config: "iterator"      # no DNSSEC validation: the lab zone is unsigned
    # Caching as a client-facing resolver does by default, with nothing that stretches a TTL:
    cache-min-ttl: 0               # (default 0) never raise gtmd's TTLs
    cache-max-ttl: 86400           # (default) never lowers TTLs of 30 s
    serve-expired: no              # (default) no stale answers after the TTL
    prefetch: no                   # (default) no refresh before expiry
    serve-original-ttl: no         # (default) clients see the remaining TTL
    qname-minimisation: no         # one query per name to gtmd
stub-zone:
    name: "{ZONE}"
    stub-addr: {addr('gtmd')}
""")
        r = sh("unbound-checkconf", conf, check=False)
        if r.returncode != 0:
            raise LabError(f"unbound-checkconf {conf}: {r.stdout}{r.stderr}")

    def start_unbound(self):
        p = self.spawn("resolver", "unbound", ["unbound", "-d", "-c", self.unbound_conf], "unbound.log")

        def answers():
            if p.poll() is not None:
                raise LabError(f"unbound exited ({p.returncode}):\n{self.tail('unbound.log')}")
            return self.resolve_via("resolver") is not None
        wait_until("unbound answering www through the stub zone", 20, answers)

    def resolve_via(self, via):
        r = sh("ip", "netns", "exec", self.ns("client"), sys.executable, __file__, "_query", "--via", via, check=False)
        return (r.stdout.strip() or None) if r.returncode == 0 else None

    def tail(self, log, n=30):
        try:
            with open(os.path.join(self.dir, log), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def teardown(self):
        remove_estate(self.id)

    # -- failures ------------------------------------------------------------------------------------

    def fail(self, scenario, region):
        if scenario == "stop":          # the backend process dies: probes are refused at once
            self.stop_backend(region)
        elif scenario == "blackhole":   # packets to the region vanish (no ICMP): probes time out
            self.ip("router", "route", "replace", "blackhole", f"{addr(region)}/32")
            self.ip(region, "route", "replace", "blackhole", "10.77.0.0/16")
        elif scenario == "cut":         # the region's link goes down: the router has no route to it
            self.ip("router", "link", "set", region, "down")
        elif scenario == "slow":        # delay and loss towards the region
            self.slow_method = "netem" if netem_available(self) else "backend delay"
            if self.slow_method == "netem":
                sh("tc", "-n", self.ns("router"), "qdisc", "replace", "dev", region, "root", "netem",
                   "delay", SLOW["delay"], "loss", SLOW["loss"])
            else:                       # kernel without sch_netem: the region's backend answers late instead
                os.kill(self.pids[f"backend-{region}"], signal.SIGUSR1)
        else:
            raise LabError(f"unknown failure '{scenario}' (stop, blackhole, cut, slow, flap)")

    def stop_backend(self, region):
        pid = self.pids.pop(f"backend-{region}", None)
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_until("backend gone", 5, lambda: reap(pid))

    def restore(self, region):
        self.ip("router", "link", "set", region, "up")
        self.ip("router", "route", "del", "blackhole", f"{addr(region)}/32", check=False)
        self.ip(region, "route", "del", "blackhole", "10.77.0.0/16", check=False)
        sh("tc", "-n", self.ns("router"), "qdisc", "del", "dev", region, "root", check=False)
        pid = self.pids.get(f"backend-{region}")
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGUSR2)   # not slow any more
        if not pid or not pid_alive(pid):
            self.start_backend(region)
            wait_until(f"backend {region} listening", 10, lambda: self.tcp_ok("gtmd", addr(region), HEALTH_PORT))


def netem_available(est):
    """True when the kernel has sch_netem (tried on the router's loopback, which carries no lab traffic)."""
    r = sh("tc", "-n", est.ns("router"), "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms", check=False)
    sh("tc", "-n", est.ns("router"), "qdisc", "del", "dev", "lo", "root", check=False)
    return r.returncode == 0


def reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return not pid_alive(pid)


def wait_until(what, timeout, cond, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------------
# DNS from the client host (runs inside the client namespace)


def build_query(qid, name, rd):
    q = struct.pack(">HHHHHH", qid, 0x0100 if rd else 0, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def skip_name(msg, i):
    for _ in range(128):
        n = msg[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += n + 1
    raise ValueError("name too long")


def parse_reply(msg):
    """(id, rcode, [A addresses], min TTL or None)."""
    qid, flags, qd, an = struct.unpack(">HHHH", msg[:8])
    i = 12
    for _ in range(qd):
        i = skip_name(msg, i) + 4
    addrs, ttls = [], []
    for _ in range(an):
        i = skip_name(msg, i)
        rtype, _cls, ttl, rdlen = struct.unpack(">HHIH", msg[i:i + 10])
        i += 10
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(msg[i:i + 4]))
            ttls.append(ttl)
        i += rdlen
    return qid, flags & 0xF, sorted(addrs), (min(ttls) if ttls else None)


SERVERS = {"resolver": (addr("resolver"), True), "gtmd": (addr("gtmd"), False)}


def query_once(via, timeout=2.0):
    host, rd = SERVERS[via]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    qid = random.randrange(65536)
    s.sendto(build_query(qid, NAME, rd), (host, 53))
    for _ in range(10):
        data, _ = s.recvfrom(4096)
        rid, rcode, addrs, ttl = parse_reply(data)
        if rid == qid:
            return rcode, addrs, ttl
    raise TimeoutError


def client_loop(out_path, period, max_seconds):
    """Every `period`, one query to the resolver (RD) and one to gtmd (no RD); one JSON line per outcome.
    Bounded by `max_seconds`; stops on SIGTERM."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    socks = {}
    for via, (host, rd) in SERVERS.items():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((host, 53))
        s.setblocking(False)
        socks[via] = (s, rd)
    pending = {}  # (via, id) -> send time
    out = open(out_path, "a", buffering=1)
    start = time.monotonic()
    next_send = start
    while not stop and time.monotonic() - start < max_seconds:
        now = time.monotonic()
        if now >= next_send:
            for via, (s, rd) in socks.items():
                qid = random.randrange(65536)
                try:
                    s.send(build_query(qid, NAME, rd))
                    pending[(via, qid)] = now
                except OSError as e:
                    out.write(json.dumps({"c": via, "s": now, "r": now, "rc": "error", "err": str(e)}) + "\n")
            next_send += period
            if next_send < now:
                next_send = now + period
        for key, sent in list(pending.items()):
            if now - sent > 1.0:
                del pending[key]
                out.write(json.dumps({"c": key[0], "s": sent, "r": now, "rc": "timeout"}) + "\n")
        ready, _, _ = select.select([s for s, _ in socks.values()], [], [], max(0.0, next_send - time.monotonic()))
        for s in ready:
            via = next(v for v, (so, _) in socks.items() if so is s)
            try:
                data = s.recv(4096)
                qid, rcode, addrs, ttl = parse_reply(data)
            except (OSError, ValueError, struct.error, IndexError):
                continue
            sent = pending.pop((via, qid), None)
            if sent is not None:
                out.write(json.dumps({"c": via, "s": sent, "r": time.monotonic(), "rc": rcode, "a": addrs,
                                      "ttl": ttl}) + "\n")
    out.close()


# ---------------------------------------------------------------------------------------------------
# Scenarios and measurement


class Recorder:
    """The client loop's log, read incrementally."""

    def __init__(self, path):
        self.path = path
        self.records = []
        self._pos = 0

    def poll(self):
        with open(self.path) as f:
            f.seek(self._pos)
            chunk = f.read()
        end = chunk.rfind("\n") + 1
        self._pos += len(chunk[:end].encode())
        for line in chunk[:end].splitlines():
            self.records.append(json.loads(line))
        return self.records

    def latest(self, via):
        for rec in reversed(self.poll()):
            if rec["c"] == via and "a" in rec:
                return rec
        return None


def on_region(rec, region):
    return rec.get("rc") == 0 and addr(region) in rec.get("a", [])


def analyse(records, via, region, down_intervals, t_fail, t_restore, b):
    """Metrics for one client over one scenario. down_intervals: [(from, to)] while `region` is impaired."""
    def down_since(t):
        """Start of the impairment in force at `t`, or None."""
        return next((a for a, z in down_intervals if a <= t < z), None)
    recs = [r for r in records if r["c"] == via and r["r"] >= t_fail]
    window = [r for r in recs if r["r"] < t_restore]
    answered = [r for r in window if r.get("rc") == 0 and r.get("a")]
    dead = [r for r in answered if addr(region) in r["a"] and down_since(r["r"]) is not None]
    standby = next((r for r in answered if addr(region) not in r["a"]), None)
    bound = b["direct"] if via == "gtmd" else b["resolver"]
    back_bound = b["back_direct"] if via == "gtmd" else b["back_resolver"]
    after_bound = [r for r in dead if r["r"] > down_since(r["r"]) + bound]
    flips, prev = 0, None
    for r in answered:
        cur = addr(region) in r["a"]
        if prev is not None and cur != prev:
            flips += 1
        prev = cur
    before = [r for r in records if r["c"] == via and r["r"] < t_fail and r.get("rc") == 0 and r.get("a")]
    back = next((r for r in recs if r["r"] >= t_restore and on_region(r, region)), None)
    return {
        "rto": round(standby["r"] - t_fail, 3) if standby else None,
        "standby": standby["a"] if standby else None,
        "ttl_before": before[-1]["ttl"] if before else None,
        "ttl_standby": standby["ttl"] if standby else None,
        "queries": len(window),
        "unanswered": len(window) - len([r for r in window if r.get("rc") == 0]),
        "dead": len(dead),
        "dead_share": round(len(dead) / len(answered), 4) if answered else None,
        "dead_after_bound": len(after_bound),
        "flips": flips,
        "back": round(back["r"] - t_restore, 3) if back else None,
        "bound": round(bound, 2),
        "back_bound": round(back_bound, 2),
    }


def run_scenario(est, rec, scenario, region, log):
    p, b = est.profile, bounds(est.profile)
    # Settle: both clients answered from the primary, then a random wait so the cached answer's age at
    # the failure is spread over the TTL as it would be for a real outage.
    wait_until("both clients back on r1 before the scenario", 120,
               lambda: all(on_region(rec.latest(v) or {}, region) for v in ("gtmd", "resolver")), 0.2)
    time.sleep(random.uniform(0.5, 0.5 + p["ttl"]))
    hold = b["resolver"] + 1.0
    t_fail = time.monotonic()
    downs = []
    if scenario == "flap":
        t = t_fail
        for c in range(FLAP["cycles"]):
            t = time.monotonic()
            est.fail("cut", region)
            time.sleep(FLAP["down"])
            est.restore(region)
            downs.append((t, time.monotonic()))
            if c < FLAP["cycles"] - 1:
                time.sleep(FLAP["up"])
    else:
        est.fail(scenario, region)
        time.sleep(hold)
        downs.append((t_fail, time.monotonic()))
        est.restore(region)
    t_restore = downs[-1][1]
    est.save(os.getpid())
    back_hold = b["back_resolver"] + 1.0
    wait_until("both clients back on r1 after restore", back_hold + 30,
               lambda: all(on_region(rec.latest(v) or {}, region) for v in ("gtmd", "resolver")), 0.2)
    time.sleep(0.3)
    records = rec.poll()
    res = {"scenario": scenario, "profile": est.profile_name,
           "method": getattr(est, "slow_method", None) if scenario == "slow" else None, "hold": round(t_restore - t_fail, 2),
           "ttl": p["ttl"], "degraded_ttl": p["degraded_ttl"]}
    for via in ("gtmd", "resolver"):
        res[via] = analyse(records, via, region, downs, t_fail, t_restore, b)
    log(format_result(res))
    return res


def format_result(r):
    def f(x, unit=" s"):
        return "never" if x is None else f"{x:.2f}{unit}"
    parts = [f"{r['profile']}/{r['scenario']}:"]
    for via in ("gtmd", "resolver"):
        m = r[via]
        parts.append(f"[{via}] standby after {f(m['rto'])} (bound {m['bound']:.2f} s), dead {m['dead']}/{m['queries']}"
                     f" ({0 if m['dead_share'] is None else m['dead_share'] * 100:.1f} %), dead after bound "
                     f"{m['dead_after_bound']}, flips {m['flips']}, back {f(m['back'])} (bound {m['back_bound']:.2f} s),"
                     f" TTL {m['ttl_before']}→{m['ttl_standby']}")
    return " ".join(parts)


SCENARIOS = ["stop", "blackhole", "cut", "slow", "flap"]


def cmd_run(args):
    check_prerequisites()
    cleanup_dead()
    est = Estate(args.id or f"{random.randrange(16**6):06x}", args.profile, args.ttl, gtmd_binary(args.gtmd))
    scenarios = args.scenarios.split(",")
    for s in scenarios:
        if s not in SCENARIOS:
            raise LabError(f"--scenarios: unknown scenario '{s}' (known: {', '.join(SCENARIOS)})")
    results = []
    try:
        est.build()
        b = bounds(est.profile)
        print(f"drlab: estate {est.id} up ({est.dir}); profile {est.profile_name} {est.profile}; bounds "
              + ", ".join(f"{k} {v:.2f} s" for k, v in b.items()), file=sys.stderr, flush=True)
        out = os.path.join(est.dir, "client.jsonl")
        open(out, "w").close()
        budget = 120 + len(scenarios) * (b["resolver"] + b["back_resolver"] + est.profile["ttl"] + 60)
        est.spawn("client", "client", [sys.executable, __file__, "_client", "--out", out,
                                       "--period", str(QUERY_PERIOD), "--max-seconds", str(int(budget))], "client.log")
        rec = Recorder(out)
        for s in scenarios:
            results.append(run_scenario(est, rec, s, "r1", lambda m: print(m, file=sys.stderr, flush=True)))
        doc = {"profile": est.profile_name, "settings": est.profile, "bounds": bounds(est.profile),
               "results": results}
        if args.json:
            with open(args.json, "w") as f:
                json.dump(doc, f, indent=1)
        print(markdown([doc]))
    except Exception:
        print(f"drlab: failed; logs of estate {est.id}:\n--- gtmd.log\n{est.tail('gtmd.log')}\n--- unbound.log\n"
              f"{est.tail('unbound.log')}", file=sys.stderr)
        raise
    finally:
        est.teardown()


def cmd_up(args):
    check_prerequisites()
    cleanup_dead()
    est = Estate(args.id or f"{random.randrange(16**6):06x}", args.profile, args.ttl, gtmd_binary(args.gtmd))
    try:
        est.build()
        print(f"drlab: estate {est.id} up; profile {est.profile_name}; bounds "
              + ", ".join(f"{k} {v:.2f} s" for k, v in bounds(est.profile).items()), flush=True)
        print(f"  gtmd {addr('gtmd')}:53 (log {est.dir}/gtmd.log), unbound {addr('resolver')}:53, regions "
              + ", ".join(f"{r} {addr(r)}" for r in REGIONS), flush=True)
        print(f"  try: {sys.argv[0]} query --via resolver; {sys.argv[0]} fail blackhole; {sys.argv[0]} restore",
              flush=True)
        print("  Ctrl-C tears it down.", flush=True)
        while True:          # reap backends that `fail stop` kills from another process
            time.sleep(1)
            try:
                os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pass
    finally:
        est.teardown()


def cmd_fail(args):
    est = Estate.load(args.id)
    if args.scenario == "flap":
        for c in range(args.cycles):
            est.fail("cut", args.region)
            time.sleep(FLAP["down"])
            est.restore(args.region)
            if c < args.cycles - 1:
                time.sleep(FLAP["up"])
    else:
        est.fail(args.scenario, args.region)
    est.save(estates()[est.id])
    print(f"drlab: {args.scenario} {args.region} in estate {est.id}")


def cmd_restore(args):
    est = Estate.load(args.id)
    for r in (REGIONS if args.region == "all" else [args.region]):
        est.restore(r)
    est.save(estates()[est.id])
    print(f"drlab: restored {args.region} in estate {est.id}")


def cmd_query(args):
    est = Estate.load(args.id)
    r = sh("ip", "netns", "exec", est.ns("client"), sys.executable, __file__, "_query", "--via", args.via, check=False)
    print(r.stdout.strip() or r.stderr.strip())
    return r.returncode


def cmd_down(args):
    if args.all:
        for lab_id in estates():
            remove_estate(lab_id)
    elif args.id:
        remove_estate(args.id)
    else:
        cleanup_dead()
    left = list_namespaces()
    print(f"drlab: {len(left)} lab namespaces left" + (f": {' '.join(left)}" if left else ""))


def cmd_list(_):
    for lab_id, owner in estates().items():
        print(f"{lab_id} owner {owner} {'running' if owner and pid_alive(owner) else 'gone (drlab.py down removes it)'}")


# ---------------------------------------------------------------------------------------------------
# Reporting


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def markdown(docs):
    """One row per (profile, scenario, client): medians over the runs in `docs`."""
    rows = ["| profile | scenario | client | runs | RTO median (max) | bound | answers to the broken region (share, median) "
            "| dead after bound | switches | back after restore median | back bound | TTL before → after (median) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    groups = {}
    for d in docs:
        for r in d["results"]:
            groups.setdefault((r["profile"], r["scenario"]), []).append(r)
    order = {s: i for i, s in enumerate(SCENARIOS)}
    for (prof, scen), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "fast", order.get(kv[0][1], 9))):
        for via, label in (("gtmd", "direct"), ("resolver", "unbound")):
            ms = [r[via] for r in rs]
            rtos = [m["rto"] for m in ms]
            never = sum(1 for x in rtos if x is None)
            rto = median(rtos)
            mx = max((x for x in rtos if x is not None), default=None)
            rto_s = "no switch" if rto is None else f"{rto:.2f} s ({mx:.2f})" + (f", {never}× no switch" if never else "")
            share = median([m["dead_share"] for m in ms])
            back = median([m["back"] for m in ms])
            after = sum(m["dead_after_bound"] for m in ms)
            if scen == "slow" and never:
                after = "n/a: probes pass, region kept"
            tb, ta = median([m["ttl_before"] for m in ms]), median([m["ttl_standby"] for m in ms])
            ttls = f"{tb:g} → {'–' if ta is None else f'{ta:g}'}"
            rows.append(f"| {prof} | {scen} | {label} | {len(rs)} | {rto_s} | {ms[0]['bound']:.2f} s | "
                        f"{0 if share is None else share * 100:.0f} % | {after} | "
                        f"{median([m['flips'] for m in ms]):g} | "
                        f"{'–' if back is None else f'{back:.2f} s'} | {ms[0]['back_bound']:.2f} s | {ttls} |")
    return "\n".join(rows)


def cmd_report(args):
    docs = []
    for path in args.files:
        with open(path) as f:
            docs.append(json.load(f))
    print(markdown(docs))


# ---------------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def estate_opts(p):
        p.add_argument("--profile", choices=sorted(PROFILES), default="fast")
        p.add_argument("--ttl", type=int, help="healthy TTL instead of the profile's (degraded TTL ≤ it)")
        p.add_argument("--gtmd", help="gtmd binary (default: $GTMD_BIN, .build/release/gtmd, .build/debug/gtmd)")
        p.add_argument("--id", help="estate id (namespace names gtlab-ID-ROLE); default: random")
    p = sub.add_parser("run", help="build, run scenarios, measure, tear down")
    estate_opts(p)
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--json", help="write the results here")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("up", help="build an estate and keep it until Ctrl-C")
    estate_opts(p)
    p.set_defaults(fn=cmd_up)
    p = sub.add_parser("fail", help="inject a failure into a running estate")
    p.add_argument("scenario", choices=SCENARIOS)
    p.add_argument("--region", default="r1", choices=REGIONS)
    p.add_argument("--cycles", type=int, default=FLAP["cycles"])
    p.add_argument("--id")
    p.set_defaults(fn=cmd_fail)
    p = sub.add_parser("restore", help="undo every failure of a region")
    p.add_argument("--region", default="r1", choices=REGIONS + ["all"])
    p.add_argument("--id")
    p.set_defaults(fn=cmd_restore)
    p = sub.add_parser("query", help="one query from the client host")
    p.add_argument("--via", choices=sorted(SERVERS), default="resolver")
    p.add_argument("--id")
    p.set_defaults(fn=cmd_query)
    p = sub.add_parser("down", help="remove leftovers of crashed runs (or --id, --all)")
    p.add_argument("--id")
    p.add_argument("--all", action="store_true")
    p.set_defaults(fn=cmd_down)
    p = sub.add_parser("list", help="estates on this machine")
    p.set_defaults(fn=cmd_list)
    p = sub.add_parser("report", help="markdown table of medians over run --json files")
    p.add_argument("files", nargs="+")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("_client")            # internal: the client's query loop (in the client namespace)
    p.add_argument("--out", required=True)
    p.add_argument("--period", type=float, default=QUERY_PERIOD)
    p.add_argument("--max-seconds", type=float, default=600)
    p.set_defaults(fn=lambda a: client_loop(a.out, a.period, a.max_seconds))
    p = sub.add_parser("_query")             # internal: one query (in the client namespace)
    p.add_argument("--via", choices=sorted(SERVERS), default="resolver")
    p.set_defaults(fn=lambda a: print_query(a.via))
    args = ap.parse_args()

    # Ctrl-C, SIGTERM and SIGHUP unwind through `finally`, which tears the estate down.
    def on_signal(sig, _frame):
        raise SystemExit(128 + sig)
    # (SIGINT too: a shell starts background jobs with SIGINT ignored, and Python would keep that.)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        sys.exit(args.fn(args) or 0)
    except LabError as e:
        print(f"drlab: {e}", file=sys.stderr)
        sys.exit(2)


def print_query(via):
    try:
        rcode, addrs, ttl = query_once(via)
    except (TimeoutError, socket.timeout, OSError) as e:
        print(f"no answer from {via}: {e}", file=sys.stderr)
        return 1
    if rcode != 0 or not addrs:
        print(f"rcode {rcode}, answers {addrs}", file=sys.stderr)
        return 1
    print(f"{NAME} {ttl} A {' '.join(addrs)}  (via {via})")
    return 0


if __name__ == "__main__":
    main()
