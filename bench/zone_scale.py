#!/usr/bin/env python3
"""Zone-size costs, gtmd next to NSD, Knot DNS and gdnsd on the same generated zones (run by bench/zone-scale.sh).

For each size N (bench/gen-zone.py N, cached in .build/bench/zones/) and each round, every server in turn
(the order rotates per round) is started on CPU 0 from its bench/peers/<name>/ config and measured:

  load      exec of the server to its first correct answer for `sentinel.lab.example A` (the zone's last
            name), polled over UDP every few milliseconds: wall time, and the server's CPU time (user + system,
            all its processes) at that moment. The CPU time is the steadier figure on a shared machine.
  memory    once settled after that answer (from 3 s on, when the server's CPU time grew by < 10 ms in 0.5 s;
            gtmd releases the pages of code that only its start ran 2 s after its first table):
            RSS and PSS (proportional: pages shared between processes counted once) summed over the server's
            processes, PSS per name, and the server's CPU time at that moment (`settled`).
  switch    the answer of `www.lab.example A` changed from 127.0.0.11 to 127.0.0.12 by each server's own way of
            changing one answer, timed from the request to the first changed answer (and back: failback):
              gtmd-ctl  `POST /v1/overrides` pool primary down (www is a failover service); `table.build` of the
                        publish from its debug log
              knot      knotc zone-begin / zone-unset / zone-set / zone-commit (an incremental change)
              nsd-ctl   the zone file with the changed record moved in place, `nsd-control reload lab.example`
              gdnsd     the same with `gdnsdctl reload-zones`
            NSD and gdnsd re-read the whole zone for one changed record: that is their cost of a static change.

Results: .build/bench/<time>-zone-scale/results.csv (one row per measurement) and table.md (medians, ratios to
Knot of the same size and run). Only ratios measured in one run are comparable.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

from proctree import stop_group, tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZONE = "lab.example"
PRIMARY = bytes([127, 0, 0, 11])
STANDBY = bytes([127, 0, 0, 12])
SENTINEL = bytes([192, 0, 2, 254])


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


class Prober:
    """A UDP socket asking one name and type again and again; `answered(expect)` is one try."""

    def __init__(self, port, name, qtype=1):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(("127.0.0.1", port))
        self.question = wire_name(name) + struct.pack(">HH", qtype, 1)
        self.qid = 0

    def answered(self, expect, wait=0.005):
        self.qid = (self.qid + 1) & 0xFFFF
        try:
            self.sock.send(struct.pack(">HHHHHH", self.qid, 0, 1, 0, 0, 0) + self.question)
        except OSError:
            time.sleep(wait)
            return False
        end = time.monotonic() + wait
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                r = self.sock.recv(4096)
            except (socket.timeout, ConnectionRefusedError, OSError):
                if time.monotonic() < end:
                    time.sleep(max(0, end - time.monotonic()))
                return False
            if len(r) < 12 or struct.unpack(">H", r[:2])[0] != self.qid:
                continue
            rcode = r[3] & 0x0F
            ancount = struct.unpack(">H", r[6:8])[0]
            # The address as an A record's rdata: rdlength 4 then the 4 bytes.
            return rcode == 0 and ancount > 0 and (b"\x00\x04" + expect) in r[12 + len(self.question):]

    def wait_for(self, expect, deadline, alive=None):
        """Monotonic time of the first answer holding `expect`; None at the deadline or when `alive()` fails."""
        n = 0
        while time.monotonic() < deadline:
            if self.answered(expect):
                return time.monotonic()
            n += 1
            if alive is not None and n % 20 == 0 and not alive():
                return None
        return None

    def close(self):
        self.sock.close()


def cpu_seconds(pids):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
            fields = s[s.rindex(")") + 2:].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        except (OSError, ValueError):
            pass
    return total / tick


def memory_kib(pids):
    rss = pss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


class Server:
    def __init__(self, name, port, zone, binary, out, timeout):
        self.name, self.port, self.out, self.timeout = name, port, out, timeout
        self.run = tempfile.mkdtemp(prefix=f"gtmd-zs-{name}-")
        self.ctl = port + 100
        self.token = "zs-" + os.urandom(8).hex()
        with open(os.path.join(self.run, "control.token"), "w") as f:
            f.write(self.token + "\n")
        os.chmod(os.path.join(self.run, "control.token"), 0o600)
        # gtmd-ctl-b: the same config on the second binary.
        peer = os.path.join(ROOT, "bench", "peers", name[:-2] if name.endswith("-ctl-b") else name)
        for f in sorted(os.listdir(peer)):
            src = os.path.join(peer, f)
            if f.endswith(".in"):
                text = open(src).read()
                for k, v in (("@ADDR@", "127.0.0.1"), ("@PORT@", str(port)), ("@RUN@", self.run),
                             ("@CONTROL@", f"127.0.0.1:{self.ctl}")):
                    text = text.replace(k, v)
                with open(os.path.join(self.run, f[:-3]), "w") as g:
                    g.write(text)
            elif f != "start":
                shutil.copy(src, self.run)
        self.zone_path = os.path.join(self.run, "lab.example.zone")
        if name.startswith("gtmd-ctl"):
            # www is the failover service here: the zone's static www record goes (as in peers/gtmd-fo/start).
            with open(zone) as src, open(self.zone_path, "w") as dst:
                for line in src:
                    if not line.startswith("www "):
                        dst.write(line)
        else:
            shutil.copy(zone, self.zone_path)
        env = dict(os.environ, GTMD=binary)
        self.log = open(os.path.join(out, f"{name}-{os.path.basename(zone)}.log"), "ab")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            ["taskset", "-c", "0", "sh", os.path.join(peer, "start")],
            cwd=self.run, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        stop_group(self.proc)
        self.log.close()
        shutil.rmtree(self.run, ignore_errors=True)

    # --- switches -------------------------------------------------------------------------------------------
    def sh(self, *cmd):
        subprocess.run(cmd, cwd=self.run, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=self.timeout)

    def switch(self, to_standby):
        """Changes www's answer the server's way (see the header)."""
        if self.name.startswith("gtmd-ctl"):
            if to_standby:
                body = json.dumps({"scope": "pool", "target": "primary", "action": "down"}).encode()
                req = urllib.request.Request(f"http://127.0.0.1:{self.ctl}/v1/overrides", data=body, method="POST")
                req.add_header("Content-Type", "application/json")
            else:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{self.ctl}/v1/overrides?scope=pool&target=primary", method="DELETE")
            req.add_header("Authorization", "Bearer " + self.token)
            urllib.request.urlopen(req, timeout=self.timeout).read()
        elif self.name.startswith("knot"):
            old, new = ("127.0.0.11", "127.0.0.12") if to_standby else ("127.0.0.12", "127.0.0.11")
            sock = ["knotc", "-s", os.path.join(self.run, "knot.sock")]
            self.sh(*sock, "zone-begin", ZONE)
            self.sh(*sock, "zone-unset", ZONE, "www", "A", old)
            self.sh(*sock, "zone-set", ZONE, "www", "30", "A", new)
            self.sh(*sock, "zone-commit", ZONE)
        else:
            # nsd-ctl, gdnsd: the changed zone file (written before the clock started) moved in place, then reload.
            staged = self.zone_path + (".standby" if to_standby else ".primary")
            if self.name.startswith("gdnsd"):
                os.replace(staged, os.path.join(self.run, "zones", ZONE))
                self.sh("gdnsdctl", "-c", self.run, "reload-zones")
            else:
                os.replace(staged, self.zone_path)
                self.sh("nsd-control", "-c", os.path.join(self.run, "nsd.conf"), "reload", ZONE)

    def stage(self, to_standby):
        """Writes the zone file a file-reloading server switches to (not timed)."""
        if self.name.startswith("gtmd-ctl") or self.name.startswith("knot"):
            return
        a, b = ("127.0.0.11", "127.0.0.12") if to_standby else ("127.0.0.12", "127.0.0.11")
        with open(self.zone_path + ".orig" if os.path.exists(self.zone_path + ".orig") else self.zone_path) as f:
            text = f.read()
        if not os.path.exists(self.zone_path + ".orig"):
            with open(self.zone_path + ".orig", "w") as g:
                g.write(text)
        text = re.sub(r"^www( +30 +IN +A +)127\.0\.0\.11$", lambda m: "www" + m.group(1) + b, text, count=1,
                      flags=re.M)
        with open(self.zone_path + (".standby" if to_standby else ".primary"), "w") as g:
            g.write(text)

    def installed(self):
        """gtmd: tables installed so far (debug log)."""
        return open(self.log.name, errors="replace").read().count("answer table installed")

    def last_build_ms(self):
        """gtmd: `table.build` of the last table installed (debug log)."""
        text = open(self.log.name, errors="replace").read()
        m = re.findall(r"answer table installed.*?table\.build=([0-9.]+)ms", text)
        return float(m[-1]) if m else None


def measure(name, port, zone, names, binary, out, rnd, rows, timeout):
    s = Server(name, port, zone, binary, out, timeout)
    row = {"server": name, "names": names, "round": rnd}
    try:
        probe = Prober(port, "sentinel.lab.example")
        t = probe.wait_for(SENTINEL, s.t0 + timeout, s.alive)
        probe.close()
        if t is None:
            print(f"  {name}: no answer within {timeout} s (log in {out})", file=sys.stderr)
            return
        pids = tree(s.proc.pid)
        row["load_ms"] = (t - s.t0) * 1000
        row["load_cpu_ms"] = cpu_seconds(pids) * 1000
        # Settled: from three seconds after the answer, once the server is idle (its CPU time grew by < 10 ms in
        # half a second; at most 60 s), so work a server does after its first answer (gtmd compacts
        # its zone graph then, and releases start-up's code pages 2 s after its first table) is in the memory
        # figure, and its CPU in `settled_cpu_ms`.
        time.sleep(3.0)
        settle_end = time.monotonic() + 60
        cpu = cpu_seconds(tree(s.proc.pid))
        while time.monotonic() < settle_end:
            time.sleep(0.5)
            now = cpu_seconds(tree(s.proc.pid))
            busy = now - cpu >= 0.01
            cpu = now
            if not busy:
                break
        rss, pss = memory_kib(tree(s.proc.pid))
        row["settled_cpu_ms"] = cpu_seconds(tree(s.proc.pid)) * 1000
        row["rss_kib"], row["pss_kib"] = rss, pss
        row["pss_bytes_per_name"] = pss * 1024 / names
        www = Prober(port, "www.lab.example")
        if www.wait_for(PRIMARY, time.monotonic() + 10, s.alive) is None:
            print(f"  {name}: www.lab.example is not 127.0.0.11", file=sys.stderr)
        else:
            for key, to_standby, expect in (("switch_ms", True, STANDBY), ("failback_ms", False, PRIMARY)):
                s.stage(to_standby)
                t0 = time.monotonic()
                try:
                    s.switch(to_standby)
                except Exception as e:  # noqa: BLE001 - reported, the row keeps its other figures
                    print(f"  {name}: switch failed: {e}", file=sys.stderr)
                    break
                t1 = www.wait_for(expect, t0 + timeout, s.alive)
                if t1 is None:
                    print(f"  {name}: the switch did not show within {timeout} s", file=sys.stderr)
                    break
                row[key] = (t1 - t0) * 1000
                if name.startswith("gtmd-ctl"):
                    # The publish is logged right after the table is installed: wait (bounded) for the line.
                    for _ in range(100):
                        if s.installed() >= (2 if to_standby else 3):
                            break
                        time.sleep(0.02)
                    row[key.replace("_ms", "_build_ms")] = s.last_build_ms()
        www.close()
    finally:
        s.stop()
    rows.append(row)
    shown = " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                     if k not in ("server", "names", "round"))
    print(f"  round {rnd} {name:9s} {shown}", flush=True)


FIELDS = ["load_ms", "load_cpu_ms", "settled_cpu_ms", "rss_kib", "pss_kib", "pss_bytes_per_name", "switch_ms", "switch_build_ms",
          "failback_ms", "failback_build_ms"]


def table(rows, ref):
    med = {}
    for r in rows:
        for f in FIELDS:
            if r.get(f) is not None:
                med.setdefault((r["names"], r["server"], f), []).append(r[f])
    med = {k: statistics.median(v) for k, v in med.items()}
    lines = ["| names | server | load ms (wall) | load CPU ms | × knot | CPU ms when settled | PSS MB | PSS B/name | "
             "× knot | switch ms | failback ms | gtmd table.build ms (switch / failback) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    sizes = sorted({r["names"] for r in rows})
    servers = []
    for r in rows:
        if r["server"] not in servers:
            servers.append(r["server"])
    for n in sizes:
        for s in servers:
            g = lambda f: med.get((n, s, f))  # noqa: E731
            if g("load_ms") is None:
                continue
            kc, kp = med.get((n, ref, "load_cpu_ms")), med.get((n, ref, "pss_kib"))
            ratio = lambda a, b: f"{a / b:.2f}" if a is not None and b else "—"  # noqa: E731
            fmt = lambda v, d=1: "—" if v is None else f"{v:,.{d}f}"  # noqa: E731
            builds = " / ".join(fmt(g(f), 2) for f in ("switch_build_ms", "failback_build_ms")) \
                if g("switch_build_ms") is not None else "—"
            lines.append(
                f"| {n:,} | {s} | {fmt(g('load_ms'), 0)} | {fmt(g('load_cpu_ms'), 0)} | "
                f"{ratio(g('load_cpu_ms'), kc)} | {fmt(g('settled_cpu_ms'), 0)} | {fmt(g('pss_kib') / 1024)} | {fmt(g('pss_bytes_per_name'), 0)} | "
                f"{ratio(g('pss_kib'), kp)} | {fmt(g('switch_ms'))} | {fmt(g('failback_ms'))} | {builds} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peers", default="gtmd-ctl,knot,nsd-ctl,gdnsd")
    ap.add_argument("--gtmd", required=True, help="the gtmd binary (a release build)")
    ap.add_argument("--gtmd-b", help="a second gtmd binary, run as peer gtmd-ctl-b (before/after in one run)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds a load or a switch may take")
    a = ap.parse_args()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = os.path.join(ROOT, ".build", "bench", f"{stamp}-zone-scale")
    os.makedirs(out, exist_ok=True)
    zones_dir = os.path.join(ROOT, ".build", "bench", "zones")
    os.makedirs(zones_dir, exist_ok=True)
    peers = a.peers.split(",")
    if a.gtmd_b and "gtmd-ctl-b" not in peers:
        peers.append("gtmd-ctl-b")
    rows = []
    with open("/proc/loadavg") as f:
        print(f"load average at start: {f.read().split()[:3]}; results: {out}")
    for n in [int(x) for x in a.sizes.split(",")]:
        zone = os.path.join(zones_dir, f"lab-{n}.zone")
        if not os.path.exists(zone):
            with open(zone + ".tmp", "w") as f:
                subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen-zone.py"), str(n)], stdout=f,
                               check=True)
            os.replace(zone + ".tmp", zone)
        print(f"== {n:,} names ({os.path.getsize(zone):,} bytes)", flush=True)
        for rnd in range(a.rounds):
            for i in range(len(peers)):
                k = (i + rnd) % len(peers)
                name = peers[k]
                binary = a.gtmd_b if name == "gtmd-ctl-b" else a.gtmd
                measure(name, 25460 + k, zone, n, binary, out, rnd, rows, a.timeout)
    with open(os.path.join(out, "results.csv"), "w") as f:
        f.write(",".join(["server", "names", "round"] + FIELDS) + "\n")
        for r in rows:
            f.write(",".join(str(r.get(k, "")) for k in ["server", "names", "round"] + FIELDS) + "\n")
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    md = table(rows, "knot")
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    print(f"load average at the end: {load}; raw: {out}")


if __name__ == "__main__":
    main()
