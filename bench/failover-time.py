#!/usr/bin/env python3
"""Failover and failback time of health-checked answers: gtmd next to gdnsd, measured in one run.

    bench/failover-time.py [--peers gtmd-hc,gdnsd-hc] [--rounds 5] [--gtmd PATH] [--poll-ms 20]

Two HTTP backends answer /healthz on 127.0.0.11 and 127.0.0.12 (a free port). Each peer (bench/peers/<name>/,
rendered as bench/peers.sh does, plus @PRIMARY@ @STANDBY@ @HCPORT@) serves www.lab.example from them: gtmd with
the lab's check (interval 1s, timeout 1s, fall 2, rise 2), gdnsd with the most aggressive settings it accepts
(interval 2, timeout 1, thresholds 1). Rounds are interleaved (the peer order rotates). Per round and peer:
the primary answers; after a random 0-2 s pause (so the kill falls anywhere in the checker's cycle) the primary
backend is killed; `www A` is polled every --poll-ms over UDP until the answer is exactly the standby
(failover time = kill -> that reply); then the backend restarts and the poll runs until the answer is the
primary again (failback time = listening -> that reply). Prints medians, all values, and the ratio to gtmd.
Loopback only. Needs gdnsd (scripts/deps.sh --bench).
"""
import argparse, os, random, shutil, signal, socket, statistics, struct, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRIMARY, STANDBY = "127.0.0.11", "127.0.0.12"

BACKEND = r"""
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "3"); self.end_headers(); self.wfile.write(b"ok\n")
class S(HTTPServer):
    def handle_error(self, *a): pass
S((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"""


def free_port(addrs):
    for _ in range(100):
        s = socket.socket()
        s.bind((addrs[0], 0))
        port = s.getsockname()[1]
        s.close()
        try:
            for a in addrs:
                t = socket.socket()
                t.bind((a, port))
                t.close()
            return port
        except OSError:
            continue
    raise SystemExit("no free port")


class Backend:
    def __init__(self, addr, port):
        self.addr, self.port, self.proc = addr, port, None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, "-c", BACKEND, self.addr, str(self.port)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.addr, self.port), timeout=0.2).close()
                return time.monotonic()
            except OSError:
                time.sleep(0.005)
        raise SystemExit(f"backend {self.addr}:{self.port} did not start")

    def kill(self):
        t = time.monotonic()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return t


def query(sock, port, qid):
    name = b"".join(bytes([len(p)]) + p for p in b"www.lab.example".split(b".")) + b"\0"
    sock.sendto(struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1), ("127.0.0.1", port))
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        try:
            data = sock.recv(4096)
        except socket.timeout:
            return None
        if len(data) < 12 or struct.unpack(">H", data[:2])[0] != qid:
            continue
        ancount = struct.unpack(">H", data[6:8])[0]
        i = 12 + len(name) + 4
        out = []
        for _ in range(ancount):
            i += 2 if data[i] & 0xC0 == 0xC0 else len(name)
            rtype, _, _, rdlen = struct.unpack(">HHIH", data[i:i + 10])
            i += 10
            if rtype == 1:
                out.append(socket.inet_ntoa(data[i:i + rdlen]))
            i += rdlen
        return sorted(out)
    return None


def poll_until(port, want, limit, period):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.05)
    start = time.monotonic()
    qid = random.randrange(65536)
    try:
        while time.monotonic() - start < limit:
            qid = (qid + 1) & 0xFFFF
            if query(sock, port, qid) == want:
                return time.monotonic()
            time.sleep(period)
        return None
    finally:
        sock.close()


def start_peer(name, port, hcport, gtmd, logdir):
    run = tempfile.mkdtemp(prefix=f"gtmd-fo-{name}-")
    shutil.copy(os.path.join(ROOT, "bench/zones/lab.example.zone"), run)
    subst = {"@ADDR@": "127.0.0.1", "@PORT@": str(port), "@RUN@": run, "@PRIMARY@": PRIMARY, "@STANDBY@": STANDBY,
             "@HCPORT@": str(hcport)}
    d = os.path.join(ROOT, "bench/peers", name)
    for f in os.listdir(d):
        if f.endswith(".in"):
            text = open(os.path.join(d, f)).read()
            for k, v in subst.items():
                text = text.replace(k, v)
            open(os.path.join(run, f[:-3]), "w").write(text)
    log = open(os.path.join(logdir, f"{name}.log"), "ab")
    env = dict(os.environ, GTMD=gtmd)
    proc = subprocess.Popen(["taskset", "-c", "0", "sh", os.path.join(d, "start")], cwd=run, stdout=log,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    if poll_until(port, [PRIMARY], 20, 0.05) is None:
        stop_peer(proc, run)
        raise SystemExit(f"{name} did not answer www = {PRIMARY} within 20 s (log: {logdir}/{name}.log)")
    return proc, run


def stop_peer(proc, run):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
    shutil.rmtree(run, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", default="gtmd-hc,gdnsd-hc")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--gtmd", default="")
    ap.add_argument("--poll-ms", type=int, default=20)
    ap.add_argument("--limit", type=float, default=30, help="give up on one switch after this many seconds")
    a = ap.parse_args()
    gtmd = a.gtmd or os.path.join(ROOT, ".build/release/gtmd")
    if not os.access(gtmd, os.X_OK):
        raise SystemExit(f"no gtmd binary at {gtmd} (scripts/build-release.sh, or --gtmd PATH)")
    gtmd = os.path.abspath(gtmd)
    peers = a.peers.split(",")
    logdir = os.path.join(ROOT, ".build/bench", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-failover")
    os.makedirs(logdir, exist_ok=True)
    hcport = free_port([PRIMARY, STANDBY])
    primary, standby = Backend(PRIMARY, hcport), Backend(STANDBY, hcport)
    primary.start()
    standby.start()
    results = {p: {"failover": [], "failback": []} for p in peers}
    period = a.poll_ms / 1000
    try:
        for r in range(a.rounds):
            for k in range(len(peers)):
                name = peers[(k + r) % len(peers)]
                port = free_port(["127.0.0.1"])
                proc, run = start_peer(name, port, hcport, gtmd, logdir)
                try:
                    time.sleep(random.uniform(0, 2))
                    t_kill = primary.kill()
                    t_fo = poll_until(port, [STANDBY], a.limit, period)
                    time.sleep(random.uniform(0, 2))
                    t_up = primary.start()
                    t_fb = poll_until(port, [PRIMARY], a.limit, period)
                finally:
                    stop_peer(proc, run)
                    if primary.proc.poll() is not None:
                        primary.start()
                fo = round(t_fo - t_kill, 3) if t_fo else float("nan")
                fb = round(t_fb - t_up, 3) if t_fb else float("nan")
                results[name]["failover"].append(fo)
                results[name]["failback"].append(fb)
                print(f"round {r + 1} {name}: failover {fo} s, failback {fb} s", flush=True)
    finally:
        for b in (primary, standby):
            if b.proc and b.proc.poll() is None:
                b.kill()
    base = peers[0]
    print(f"\n| peer | failover s, median (all) | ratio to {base} | failback s, median (all) | ratio to {base} |")
    print("|---|---|---|---|---|")
    med = {p: {k: statistics.median(v) for k, v in results[p].items()} for p in peers}
    for p in peers:
        fo, fb = results[p]["failover"], results[p]["failback"]
        print(f"| {p} | {med[p]['failover']:.2f} ({', '.join(f'{x:.2f}' for x in fo)}) | "
              f"{med[p]['failover'] / med[base]['failover']:.2f} | {med[p]['failback']:.2f} "
              f"({', '.join(f'{x:.2f}' for x in fb)}) | {med[p]['failback'] / med[base]['failback']:.2f} |")
    print(f"\nlogs: {logdir}")


if __name__ == "__main__":
    main()
