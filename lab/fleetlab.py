#!/usr/bin/env python3
"""gtmd fleet lab: three sites (one etcd member + one gtmd node each), two regions, a caching resolver (unbound,
the three nodes as its NS set) and a client, each in its own network namespace; the scenarios of issue 15,
ending with one JSON line of figures.

Needs root, iproute2, etcd (Debian etcd-server), unbound, python3 and a built gtmd. Run it through lab/fleet.sh.

  fleetlab.py run [--profile fast|full] [--gtmd PATH] [--json F] [--keep-logs]
  fleetlab.py down [--all]     remove estates whose owner died (crashed runs), or every one

fast: scenarios 1-4 (the CI's profile); full: 1-6. See lab/README.md ("The fleet lab").
"""
import argparse
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drlab  # noqa: E402  (namespaces, process and DNS helpers shared with the DR lab)
from drlab import LabError, sh, pid_alive, kill_namespace_processes, wait_until, build_query, parse_reply  # noqa: E402

PREFIX = "gtfleet"
REPO = drlab.REPO
RUN_ROOT = os.environ.get("GTMD_LAB_RUN", "/run/gtmd-fleet-lab" if os.access("/run", os.W_OK) else "/tmp/gtmd-fleet-lab")
ZONE, NAME = "lab.example", "www.lab.example"
HEALTH_PORT, SOLO_PORT, CONTROL = 8081, 5354, "127.0.0.1:8053"
SITES = ["s1", "s2", "s3"]          # one etcd member and one gtmd node each; s1 is "node A"
REGIONS = ["r1", "r2"]              # r1 primary, r2 standby
SUBNET = {"client": 1, "r1": 11, "r2": 12, "s1": 21, "s2": 22, "s3": 23, "resolver": 31}
HOSTS = list(SUBNET)
TOKEN = "fleet-lab-token"
LEASE_TTL = 3
PERIOD = 0.02                        # the client asks every node (and the resolver) every 20 ms
CACHE_MAX_TTL = 1                    # the resolver keeps an answer at most 1 s (unbound's clock: up to 2 s)
BOUND = 30.0                         # no single wait in a scenario lasts longer


def addr(role):
    return f"10.78.{SUBNET[role]}.2"


def now():
    return time.monotonic()


class Estate:
    def __init__(self, lab_id, gtmd):
        self.id, self.gtmd = lab_id, gtmd
        self.dir = os.path.join(RUN_ROOT, lab_id)
        self.procs = {}
        self.last_call_sent = 0.0

    def ns(self, role):
        return f"{PREFIX}-{self.id}-{role}"

    def ip(self, role, *args, check=True):
        return sh("ip", "-n", self.ns(role), *args, check=check)

    def run_in(self, role, *argv, check=True, timeout=20):
        r = subprocess.run(["ip", "netns", "exec", self.ns(role)] + list(argv), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise LabError(f"{role}: {' '.join(argv)}: {r.stderr.strip() or r.stdout.strip()}")
        return r

    def spawn(self, role, key, argv):
        out = open(os.path.join(self.dir, f"{key}.log"), "ab")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(role)] + argv, stdout=out, stderr=out,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self.procs[key] = p
        return p

    def kill(self, key, sig=signal.SIGKILL):
        p = self.procs.pop(key, None)
        if p is None:
            return
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)

    # -- building --------------------------------------------------------------------------------------

    def build(self):
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "owner"), "w") as f:
            f.write(str(os.getpid()))
        sh("ip", "netns", "add", self.ns("router"))
        self.ip("router", "link", "set", "lo", "up")
        sh("ip", "netns", "exec", self.ns("router"), "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
        for role in HOSTS:
            n = SUBNET[role]
            sh("ip", "netns", "add", self.ns(role))
            self.ip(role, "link", "set", "lo", "up")
            self.ip("router", "link", "add", role, "type", "veth", "peer", "name", "eth0", "netns", self.ns(role))
            self.ip("router", "addr", "add", f"10.78.{n}.1/24", "dev", role)
            self.ip("router", "link", "set", role, "up")
            self.ip(role, "addr", "add", f"{addr(role)}/24", "dev", "eth0")
            self.ip(role, "link", "set", "eth0", "up")
            self.ip(role, "route", "add", "default", "via", f"10.78.{n}.1")
        with open(os.path.join(self.dir, "token"), "w") as f:
            f.write(TOKEN)
        with open(os.path.join(self.dir, "lab.example.zone"), "w") as f:
            f.write(f"$ORIGIN {ZONE}.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 30\n"
                    + "".join(f"  IN NS ns{i}\n" for i in (1, 2, 3))
                    + "".join(f"ns{i} IN A {addr(s)}\n" for i, s in enumerate(SITES, 1)))
            # No record at www: the service answers there from its pools (gtmd refuses a zone record it would hide).
        for r in REGIONS:
            self.start_backend(r)
        for s in SITES:
            self.start_etcd(s)
        self.wait_etcd(SITES)
        for s in SITES:
            self.write_config(s, fleet=True)
            self.write_config(s, fleet=False)
            self.start_gtmd(s)
            self.start_gtmd(s, solo=True)
        self.write_unbound_config()
        self.spawn("resolver", "unbound", ["unbound", "-d", "-c", self.unbound_conf])

    def write_unbound_config(self):
        """The clients' caching resolver: the service zone as a stub zone whose servers are the three fleet nodes
        (the zone's NS set), TTLs capped at CACHE_MAX_TTL so a switch reaches it within about 2 s."""
        conf = os.path.join(self.dir, "unbound.conf")
        if drlab.apparmor_enforces_unbound():     # unbound's AppArmor profile lets it read /etc/unbound/** only
            conf = f"/etc/unbound/gtmd-fleetlab-{self.id}.conf"
        self.unbound_conf = conf
        stubs = "".join(f"    stub-addr: {addr(s)}\n" for s in SITES)
        with open(conf, "w") as f:
            f.write(f"""# Written by lab/fleetlab.py: the resolver in front of the fleet ({ZONE} stubbed to the three nodes).
server:
    interface: {addr('resolver')}
    port: 53
    access-control: 10.78.0.0/16 allow
    do-ip6: no
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{os.path.dirname(conf)}"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 3                   # logs "reply from <zone> node#53": which node answered each upstream query
    num-threads: 1
    module-config: "iterator"      # no DNSSEC validation: the lab zone is unsigned
    cache-min-ttl: 0               # never raise gtmd's TTLs
    cache-max-ttl: {CACHE_MAX_TTL}               # the lab's cap (gtmd says 30 s healthy, 5 s degraded)
    cache-max-negative-ttl: {CACHE_MAX_TTL}
    serve-expired: no              # no stale answers after the (capped) TTL
    prefetch: no
    qname-minimisation: no         # one query per name to a node
    infra-keep-probing: yes        # keep trying a node that timed out (a restarted one) instead of parking it
stub-zone:
    name: "{ZONE}"
    stub-prime: no                 # the three addresses below are the NS set; unbound picks among them by RTT
{stubs}""")
        r = sh("unbound-checkconf", conf, check=False)
        if r.returncode != 0:
            raise LabError(f"unbound-checkconf {conf}: {r.stdout}{r.stderr}")

    def start_backend(self, region):
        self.spawn(region, f"backend-{region}", [sys.executable, os.path.join(REPO, "Tests/tools/lab_backend.py"),
                                                 addr(region), str(HEALTH_PORT)])

    def start_etcd(self, site):
        cluster = ",".join(f"{s}=http://{addr(s)}:2380" for s in SITES)
        self.spawn(site, f"etcd-{site}", [
            shutil.which("etcd") or "/usr/bin/etcd", "--name", site, "--data-dir", os.path.join(self.dir, f"etcd-{site}"),
            "--listen-client-urls", f"http://{addr(site)}:2379", "--advertise-client-urls", f"http://{addr(site)}:2379",
            "--listen-peer-urls", f"http://{addr(site)}:2380", "--initial-advertise-peer-urls", f"http://{addr(site)}:2380",
            "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", f"fleetlab-{self.id}",
            "--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "error", "--logger", "zap"])

    def etcd_ok(self, site):
        code = ("import urllib.request,sys;urllib.request.urlopen(urllib.request.Request("
                f"'http://{addr(site)}:2379/v3/kv/range',data=b'{{\"key\":\"AA==\"}}'),timeout=1).read()")
        return self.run_in(site, sys.executable, "-c", code, check=False).returncode == 0

    def wait_etcd(self, sites):
        for s in sites:
            wait_until(f"etcd member {s} answering", BOUND, lambda s=s: self.etcd_ok(s), 0.2)

    def endpoints(self, site):
        order = [site] + [s for s in SITES if s != site]       # the site's own member first
        return ",".join(f"http://{addr(s)}:2379" for s in order)

    def write_config(self, site, fleet):
        checks = "{ type: http, port: %d, path: /healthz, interval: 1s, timeout: 1s, fall: 2, rise: 2 }" % HEALTH_PORT
        pools = "".join(f"  {r}: {{ checks: [healthz], members: [{addr(r)}] }}\n" for r in REGIONS)
        text = f"""# Written by lab/fleetlab.py: node {site}{'' if fleet else ' without the fleet (for comparison)'}.
server:
  listen: ["{addr(site)}:{53 if fleet else SOLO_PORT}"]
  udp_workers: 1
  rrl: {{ exempt: [10.78.{SUBNET['client']}.0/24] }}   # the lab's client asks every node 50 times a second
zones:
  - origin: {ZONE}
    file: lab.example.zone
state_file: {site}{'' if fleet else '-solo'}-state.json
control:
  listen: {CONTROL if fleet else 'off'}
  token_file: token
health:
  coalesce_window: 0s
checks:
  healthz: {checks}
pools:
{pools}services:
  {NAME}: {{ policy: failover, pools: [r1, r2], ttl: 30, degraded_ttl: 5, failback: auto }}
"""
        if fleet:
            text += f"""fleet:
  name: lab
  vantage: site-{site}
  quorum: majority
  on_store_loss: local
  lease_ttl: {LEASE_TTL}s
  etcd:
    endpoints: [http://127.0.0.1:2379]   # replaced by --etcd
    request_timeout: 500ms
"""
        path = os.path.join(self.dir, f"{site}{'' if fleet else '-solo'}.yaml")
        with open(path, "w") as f:
            f.write(text)
        r = sh(self.gtmd, "check", "--config", path, check=False)
        if r.returncode != 0:
            raise LabError(f"gtmd check refused {path}:\n{r.stdout}{r.stderr}")

    def start_gtmd(self, site, solo=False):
        key = f"gtmd-{site}{'-solo' if solo else ''}"
        cfg = os.path.join(self.dir, f"{site}{'-solo' if solo else ''}.yaml")
        argv = [self.gtmd, "serve", "--config", cfg]
        if not solo:
            argv += ["--node", site, "--etcd", self.endpoints(site)]
        self.spawn(site, key, argv)

    def control(self, site, method, path, body=None):
        """A control API call inside the site's namespace: (status, body)."""
        code = ("import urllib.request,urllib.error,sys,time\n"
                f"r=urllib.request.Request('http://{CONTROL}{path}',method='{method}',"
                f"headers={{'Authorization':'Bearer {TOKEN}','Content-Type':'application/json'}},"
                f"data={repr(body.encode()) if body else None})\n"
                "print(time.monotonic())\n"
                "try:\n  x=urllib.request.urlopen(r,timeout=5);print(x.status);print(x.read().decode())\n"
                "except urllib.error.HTTPError as e:\n  print(e.code);print(e.read().decode())\n")
        r = self.run_in(site, sys.executable, "-c", code, check=False)
        lines = r.stdout.split("\n", 2)
        try:
            self.last_call_sent = float(lines[0])
            return int(lines[1]), (lines[2] if len(lines) > 2 else "")
        except (ValueError, IndexError):
            return 0, r.stderr

    def fleet_status(self, site):
        st, body = self.control(site, "GET", "/status")
        if st != 200:
            return None
        return json.loads(body).get("fleet")

    def log(self, key, n=40):
        try:
            with open(os.path.join(self.dir, f"{key}.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def teardown(self, keep_logs=None):
        for key in list(self.procs):
            self.kill(key, signal.SIGTERM)
        remove_estate(self.id, keep_logs)


def remove_estate(lab_id, keep_logs=None):
    for ns in sh("ip", "netns", "list", check=False).stdout.split("\n"):
        name = ns.split(" ")[0]
        if name.startswith(f"{PREFIX}-{lab_id}-"):
            kill_namespace_processes(name)
            sh("ip", "netns", "del", name, check=False)
    try:
        os.remove(f"/etc/unbound/gtmd-fleetlab-{lab_id}.conf")   # only where AppArmor made the lab write it there
    except OSError:
        pass
    d = os.path.join(RUN_ROOT, lab_id)
    if keep_logs and os.path.isdir(d):
        os.makedirs(keep_logs, exist_ok=True)
        for f in os.listdir(d):
            if f.endswith((".log", ".jsonl")):
                shutil.copy(os.path.join(d, f), keep_logs)
    shutil.rmtree(d, ignore_errors=True)


def cleanup_dead(all_estates=False):
    ids = set()
    for ns in sh("ip", "netns", "list", check=False).stdout.split("\n"):
        if ns.startswith(PREFIX + "-"):
            ids.add(ns.split("-")[1])
    if os.path.isdir(RUN_ROOT):
        ids.update(os.listdir(RUN_ROOT))
    for lab_id in ids:
        try:
            with open(os.path.join(RUN_ROOT, lab_id, "owner")) as f:
                owner = int(f.read())
        except (OSError, ValueError):
            owner = None
        if all_estates or owner is None or not pid_alive(owner):
            print(f"fleetlab: removing estate {lab_id}", file=sys.stderr)
            remove_estate(lab_id)


# -- the client: every node, every 20 ms, from its own namespace ------------------------------------------

def client_loop(out_path, targets, max_seconds):
    """targets: name → (address, port). One JSON line per answer or timeout (1 s). Bounded; stops on SIGTERM."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    socks = {}
    for name, (host, port) in targets.items():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((host, port))
        s.setblocking(False)
        socks[name] = s
    pending, qid = {}, 0
    out = open(out_path, "a", buffering=1)
    start = next_send = time.monotonic()
    while not stop and time.monotonic() - start < max_seconds:
        t = time.monotonic()
        if t >= next_send:
            for name, s in socks.items():
                qid = (qid + 1) % 65536
                try:
                    s.send(build_query(qid, NAME, name == "resolver"))   # recursion desired of the resolver only
                    pending[(name, qid)] = t
                except OSError:
                    out.write(json.dumps({"n": name, "s": t, "a": None}) + "\n")
            next_send = max(next_send + PERIOD, t)
        for key, sent in list(pending.items()):
            if t - sent > 1.0:
                del pending[key]
                out.write(json.dumps({"n": key[0], "s": sent, "a": None}) + "\n")
        ready, _, _ = select.select(list(socks.values()), [], [], max(0.0, next_send - time.monotonic()))
        for s in ready:
            name = next(n for n, so in socks.items() if so is s)
            try:
                rid, rcode, addrs, _ttl = parse_reply(s.recv(4096))
            except (OSError, ValueError, IndexError):
                continue
            sent = pending.pop((name, rid), None)
            if sent is not None:
                out.write(json.dumps({"n": name, "s": sent, "r": time.monotonic(), "a": addrs if rcode == 0 else None})
                          + "\n")
    out.close()


class Client:
    """The client loop's log, read incrementally: the latest answer per node, answer history."""

    def __init__(self, path):
        self.path, self.pos, self.records = path, 0, []

    def poll(self):
        try:
            with open(self.path) as f:
                f.seek(self.pos)
                chunk = f.read()
        except OSError:
            return self.records
        end = chunk.rfind("\n") + 1
        self.pos += len(chunk[:end].encode())
        self.records += [json.loads(line) for line in chunk[:end].splitlines()]
        return self.records

    def since(self, t0, names=None):
        return [r for r in self.poll() if r["s"] >= t0 and (names is None or r["n"] in names)]

    def latest(self, name):
        for r in reversed(self.poll()):
            if r["n"] == name and r.get("a") is not None:
                return r["a"]
        return None

    def first_at(self, name, t0, answer):
        for r in self.since(t0, [name]):
            if r.get("a") == answer:
                return r["r"]
        return None


NODES = {s: (addr(s), 53) for s in SITES}
SOLO = {f"{s}-solo": (addr(s), SOLO_PORT) for s in SITES}
RESOLVER = {"resolver": (addr("resolver"), 53)}
R1, R2 = [addr("r1")], [addr("r2")]


def resolver_log_size(e):
    try:
        return os.path.getsize(os.path.join(e.dir, "unbound.log"))
    except OSError:
        return 0


def resolver_replies(e, start):
    """Replies the resolver took from each fleet node since byte `start` of its log (upstream queries answered)."""
    with open(os.path.join(e.dir, "unbound.log"), "rb") as f:
        f.seek(start)
        text = f.read().decode(errors="replace")
    return {s: text.count(f"reply from <{ZONE}.> {addr(s)}#53") for s in SITES}


def wait_answers(c, names, answer, what, timeout=BOUND):
    wait_until(f"{what}: {names} answer {answer}", timeout, lambda: all(c.latest(n) == answer for n in names), 0.02)


def switched(c, t0, names, answer):
    """Names that answered something other than `answer` (a switch) since t0."""
    return sorted({r["n"] for r in c.since(t0, names) if r.get("a") and r["a"] != answer})


# -- scenarios ------------------------------------------------------------------------------------------

def scenario_all_down(e, c, fig):
    """1. The primary region down for everyone: every node switches; the skew between nodes."""
    t0 = now()
    e.kill("backend-r1")
    wait_answers(c, SITES, R2, "primary down")
    at = {s: c.first_at(s, t0, R2) for s in SITES}
    fig["all_down_switch_s"] = {s: round(at[s] - t0, 3) for s in SITES}
    fig["all_down_skew_ms"] = round((max(at.values()) - min(at.values())) * 1000)
    # What a client behind the resolver sees: its cached answer lives at most CACHE_MAX_TTL (+1 s of unbound's clock).
    wait_answers(c, ["resolver"], R2, "the resolver answers the standby")
    fig["resolver_switch_ms"] = round((c.first_at("resolver", t0, R2) - t0) * 1000)
    fig["resolver_after_nodes_ms"] = round((c.first_at("resolver", t0, R2) - max(at.values())) * 1000)
    e.start_backend("r1")
    wait_answers(c, SITES + list(SOLO) + ["resolver"], R1, "primary back")


def scenario_partition(e, c, fig):
    """2. Site s1 loses its path to the primary only: with the fleet nobody switches; without it s1 flips."""
    wait_answers(c, SITES + list(SOLO) + ["resolver"], R1, "every node and the resolver on the primary before the cut")
    t0 = now()
    e.ip("s1", "route", "add", "unreachable", f"{addr('r1')}/32")
    try:
        # Until s1's own probes see the primary down, then 4 s more (two more probe rounds).
        def s1_sees_down():
            f = e.fleet_status("s1") or {}
            return any(t["target"].startswith("r1/") and t.get("local") is False for t in f.get("targets", []))
        wait_until("s1's own probes see r1 down", BOUND, s1_sees_down, 0.2)
        log_at = resolver_log_size(e)
        wait_answers(c, ["s1-solo"], R2, "the solo node in s1 flips")
        t1 = now()
        wait_until("4 s", 5, lambda: now() - t1 >= 4, 0.1)
        # ... and until the resolver has asked s1 itself at least once since s1's probes saw r1 down.
        wait_until("the resolver asks s1 during the cut", BOUND, lambda: resolver_replies(e, log_at)["s1"] >= 1, 0.1)
        fig["resolver_partition_replies"] = resolver_replies(e, log_at)
        fig["partition_false_switches"] = len(switched(c, t0, SITES, R1))
        fig["partition_false_switches_without_fleet"] = len(switched(c, t0, list(SOLO), R1))
        fig["partition_switched_nodes"] = switched(c, t0, SITES, R1) + switched(c, t0, list(SOLO), R1)
        # The resolver asks the three fleet nodes (s1, the cut one, among them): it must never get the standby.
        through = c.since(t0, ["resolver"])
        fig["resolver_false_answers"] = sum(1 for r in through if r.get("a") and r["a"] != R1)
        fig["resolver_partition_answers"] = sum(1 for r in through if r.get("a"))
    finally:
        e.ip("s1", "route", "del", "unreachable", f"{addr('r1')}/32", check=False)
    wait_answers(c, list(SOLO), R1, "solo nodes back")


def set_override(e, site, body):
    st, text = e.control(site, "POST", "/v1/overrides", body)
    if st != 200:
        raise LabError(f"override on {site}: HTTP {st}: {text}")


def clear_override(e, site):
    st, text = e.control(site, "DELETE", "/v1/overrides?scope=pool&target=r1")
    if st != 200:
        raise LabError(f"clear on {site}: HTTP {st}: {text}")


def scenario_override(e, c, fig):
    """3. An override set on node A (s1) is answered by B and C."""
    t0 = now()
    set_override(e, "s1", '{"scope":"pool","target":"r1","action":"down","note":"fleet lab drill"}')
    sent, t_reply = e.last_call_sent, now()
    wait_answers(c, SITES, R2, "override answered")
    at = {s: c.first_at(s, t0, R2) for s in SITES}
    # From the moment the API request left (inside s1's namespace) to the last of B and C answering it.
    fig["override_propagation_ms"] = round((max(at["s2"], at["s3"]) - sent) * 1000)
    fig["override_node_a_ms"] = round((at["s1"] - sent) * 1000)
    fig["override_api_reply_ms"] = round((t_reply - sent) * 1000)
    t1 = now()
    clear_override(e, "s2")
    sent = e.last_call_sent
    wait_answers(c, SITES, R1, "override cleared everywhere")
    fig["override_clear_propagation_ms"] = round((max(c.first_at(s, t1, R1) for s in SITES) - sent) * 1000)


def modes(e):
    return {s: (e.fleet_status(s) or {}).get("mode") for s in SITES}


def scenario_store_loss(e, c, fig, full):
    """4. One etcd member killed: nothing changes. All killed: every node keeps answering, follows
    on_store_loss (local). Restarted: no flap. 5 (full): a node restarted while etcd is down serves the
    cached override."""
    t0 = now()
    e.kill("etcd-s3")
    t1 = now()
    wait_until("3 s with one member gone", 5, lambda: now() - t1 >= 3, 0.1)
    m = modes(e)
    fig["one_member_killed_changes"] = len(switched(c, t0, SITES, R1)) + sum(1 for v in m.values() if v != "fleet")
    e.start_etcd("s3")
    e.wait_etcd(["s3"])
    expected = R1
    if full:
        # An override in force before the store goes, so a restarted node has something to remember.
        set_override(e, "s1", '{"scope":"pool","target":"r1","action":"down","note":"cached"}')
        wait_answers(c, SITES, R2, "override before the store loss")
        expected = R2
    t2 = now()
    for s in SITES:
        e.kill(f"etcd-{s}")
    wait_until("every node notices the loss", BOUND, lambda: all(v == "local" for v in modes(e).values()), 0.2)
    fig["store_loss_modes"] = modes(e)
    if full:
        t_stop = now()
        e.kill("gtmd-s3", signal.SIGTERM)
        t_restart = now()
        e.start_gtmd("s3")
        wait_until("s3 restarted answers", BOUND, lambda: any(r.get("a") is not None for r in c.since(t_restart, ["s3"])),
                   0.05)
        first = next(r for r in c.since(t_restart, ["s3"]) if r.get("a") is not None)
        fig["restart_without_store_serves_cached_override"] = first["a"] == R2
        fig["restart_without_store_first_answer_s"] = round(first["r"] - t_restart, 2)
    t3 = now()
    wait_until("2 s more without the store", 5, lambda: now() - t3 >= 2, 0.1)
    t_back = now()
    for s in SITES:
        e.start_etcd(s)
    e.wait_etcd(SITES)
    wait_until("every node back in the fleet", BOUND, lambda: all(v == "fleet" for v in modes(e).values()), 0.2)
    fig["store_return_s"] = round(now() - t_back, 2)
    t4 = now()
    wait_until("2 s after the return", 5, lambda: now() - t4 >= 2, 0.1)
    # s3's own restart (stopped on purpose, then starting) is not a lost answer.
    loss = [r for r in c.since(t2, SITES) if not (full and r["n"] == "s3" and t_stop <= r["s"] <= first["r"])]
    fig["store_loss_queries"] = len(loss)
    fig["store_loss_unanswered"] = sum(1 for r in loss if not r.get("a"))
    fig["store_loss_flaps"] = len(switched(c, t2, SITES, expected))
    if full:
        clear_override(e, "s1")
        wait_answers(c, SITES, R1, "override cleared after the return")


def scenario_dead_node(e, c, fig):
    """6. A gtmd node killed without a goodbye: its lease expires and its observations leave the quorum."""
    t0 = now()
    e.kill("gtmd-s3", signal.SIGKILL)

    def evicted():
        f = e.fleet_status("s1") or {}
        gone = "s3" not in [m["node"] for m in f.get("members", [])]
        return gone and all("site-s3" not in t.get("vantages", {}) for t in f.get("targets", []))
    wait_until("s3 evicted", BOUND, evicted, 0.1)
    fig["dead_node_evicted_s"] = round(now() - t0, 2)
    fig["lease_ttl_s"] = LEASE_TTL


# -- run -------------------------------------------------------------------------------------------------

def cmd_run(args):
    if os.geteuid() != 0:
        raise LabError("the fleet lab needs root (ip netns, veth)")
    for tool in ("ip", "etcd", "unbound", "unbound-checkconf"):
        if not shutil.which(tool):
            raise LabError(f"'{tool}' is missing (scripts/deps.sh installs iproute2, etcd-server and unbound)")
    gtmd = drlab.gtmd_binary(args.gtmd)
    cleanup_dead()
    e = Estate(os.urandom(3).hex(), gtmd)
    full = args.profile == "full"
    fig = {"profile": args.profile}
    started = now()
    stopping = []

    def on_signal(sig, _frame):
        stopping.append(sig)
        raise KeyboardInterrupt
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    ok = False
    try:
        e.build()
        log = os.path.join(e.dir, "client.jsonl")
        e.spawn("client", "client", [sys.executable, os.path.abspath(__file__), "client", log, "900"])
        c = Client(log)
        wait_answers(c, SITES + list(SOLO) + ["resolver"], R1, "every node and the resolver answer the primary",
                     timeout=60)
        wait_until("three members seen by every node", BOUND,
                   lambda: all(len((e.fleet_status(s) or {}).get("members", [])) == 3 for s in SITES), 0.2)
        dig = e.run_in("client", "dig", "+short", "+tries=1", "+time=2", f"@{addr('s2')}", NAME, "A", check=False)
        fig["dig_check"] = dig.stdout.strip() == addr("r1")
        fig["setup_s"] = round(now() - started, 1)
        steps = [("all_down", lambda: scenario_all_down(e, c, fig)),
                 ("partition", lambda: scenario_partition(e, c, fig)),
                 ("override", lambda: scenario_override(e, c, fig)),
                 ("store_loss", lambda: scenario_store_loss(e, c, fig, full))]
        if full:
            steps.append(("dead_node", lambda: scenario_dead_node(e, c, fig)))
        for name, step in steps:
            t = now()
            print(f"fleetlab: {name} ...", file=sys.stderr, flush=True)
            step()
            print(f"fleetlab: {name} done in {now() - t:.1f} s", file=sys.stderr, flush=True)
        fig["total_s"] = round(now() - started, 1)
        ok = True
    except (LabError, subprocess.TimeoutExpired) as err:
        fig["error"] = str(err)
        for key in list(e.procs):
            if key.startswith(("gtmd", "etcd", "unbound")):
                print(f"--- {key}.log (last lines)\n{e.log(key, 25)}", file=sys.stderr)
    except KeyboardInterrupt:
        fig["error"] = f"interrupted ({stopping[0] if stopping else 'SIGINT'})"
    finally:
        e.teardown(args.keep_logs)
    fig["ok"] = ok
    line = json.dumps(fig, sort_keys=True)
    if args.json:
        with open(args.json, "w") as f:
            f.write(line + "\n")
    print(line)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--profile", choices=["fast", "full"], default="full")
    r.add_argument("--gtmd")
    r.add_argument("--json")
    r.add_argument("--keep-logs", metavar="DIR")
    d = sub.add_parser("down")
    d.add_argument("--all", action="store_true")
    cl = sub.add_parser("client")
    cl.add_argument("out")
    cl.add_argument("seconds", type=float)
    args = ap.parse_args()
    try:
        if args.cmd == "run":
            sys.exit(cmd_run(args))
        elif args.cmd == "down":
            cleanup_dead(all_estates=args.all)
        elif args.cmd == "client":
            client_loop(args.out, {**NODES, **SOLO, **RESOLVER}, args.seconds)
    except LabError as err:
        print(f"fleetlab: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
