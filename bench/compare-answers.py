#!/usr/bin/env python3
"""Answers of two gtmd binaries compared byte for byte (a change that must not change answers, e.g. to the
zone load or table build): both serve ZONE (www.ORIGIN is a failover service: give a zone without a www
address record) on loopback (ports 25581-25584), and are asked every owner name written at the start of a
line in ZONE and the names between them and ORIGIN (empty non-terminals), plus made-up names (NXDOMAIN, below
existing names, under wildcards) for A, AAAA, CNAME, MX, TXT, SRV, NS, SOA, DS and ANY, without EDNS, with EDNS
and with DO; then both switch (override pool primary down over the control API) and are asked again. Exit 1 when
any reply differs.

    bench/compare-answers.py BIN_A BIN_B ZONE ORIGIN.
    e.g. grep -v '^www ' .build/bench/zones/lab-10000.zone > /tmp/z && bench/compare-answers.py old/gtmd new/gtmd /tmp/z lab.example.
"""
import json, os, random, shutil, socket, struct, subprocess, sys, tempfile, time, urllib.request
a_bin, b_bin, zone, origin = sys.argv[1:5]
names = set()
cur = origin
for line in open(zone):
    if not line.strip() or line.startswith(";") or line.startswith("$"): continue
    if line[0] in " \t": continue
    o = line.split()[0]
    names.add(origin if o == "@" else (o if o.endswith(".") else o + "." + origin))
# The names between each owner and the origin too (empty non-terminals: NODATA, or the referral above them).
for n in list(names):
    labels = n.rstrip(".").split(".")
    for k in range(1, len(labels)):
        parent = ".".join(labels[k:]) + "."
        if parent.endswith(origin) and len(parent) > len(origin):
            names.add(parent)
names = sorted(names)
rng = random.Random(5)
extra = [f"nx{i}.{origin}" for i in range(50)] + [f"x.{n}" for n in rng.sample(names, min(300, len(names)))]
extra += [n.replace("*.", "q.") for n in names if n.startswith("*.")][:200]
types = [1, 28, 5, 15, 16, 33, 2, 6, 43, 255]
def wire(n):
    out = b""
    for l in n.rstrip(".").split("."):
        out += bytes([len(l)]) + l.encode()
    return out + b"\0"
def start(binary, port, ctl, run):
    tok = os.path.join(run, "token"); open(tok, "w").write("t0k\n"); os.chmod(tok, 0o600)
    cfg = os.path.join(run, "g.yaml")
    open(cfg, "w").write(f"""server: {{ listen: ["127.0.0.1:{port}"], udp_workers: 1 }}
zones: [ {{ origin: {origin}, file: {zone} }} ]
state_file: {run}/state.json
control: {{ listen: "127.0.0.1:{ctl}", token_file: {tok} }}
pools:
  primary: {{ members: [127.0.0.11] }}
  standby: {{ members: [127.0.0.12] }}
services:
  www.{origin}: {{ policy: failover, pools: [primary, standby], ttl: 30 }}
""")
    p = subprocess.Popen([binary, "serve", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p
def ask(sock, q):
    for _ in range(20):
        sock.send(q)
        try:
            return sock.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            time.sleep(0.05)
            continue
    return b"timeout"
runs = [tempfile.mkdtemp(), tempfile.mkdtemp()]
procs = [start(a_bin, 25581, 25583, runs[0]), start(b_bin, 25582, 25584, runs[1])]
socks = []
for port in (25581, 25582):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(("127.0.0.1", port)); s.settimeout(0.5); socks.append(s)
probe = struct.pack(">HHHHHH", 1, 0, 1, 0, 0, 0) + wire("www." + origin) + struct.pack(">HH", 1, 1)
deadline = time.time() + 600
for s in socks:
    while time.time() < deadline:
        r = ask(s, probe)
        if r != b"timeout" and len(r) > 12 and r[3] & 15 == 0 and struct.unpack(">H", r[6:8])[0] > 0: break
        time.sleep(0.2)
def compare(tag):
    diff = n = 0
    for name in names + extra:
        for t in types:
            for edns in (0, 1, 2):
                q = struct.pack(">HHHHHH", 7, 0, 1, 0, 0, 1 if edns else 0) + wire(name) + struct.pack(">HH", t, 1)
                if edns: q += b"\0" + struct.pack(">HHIH", 41, 1232, 0x8000 if edns == 2 else 0, 0)
                ra, rb = ask(socks[0], q), ask(socks[1], q)
                n += 1
                if ra != rb:
                    diff += 1
                    if diff <= 5: print(f"{tag}: differs: {name} type {t} edns {edns}: {ra.hex()} vs {rb.hex()}")
    print(f"{tag}: {n} questions, {diff} differ", flush=True)
    return diff
try:
    d = compare("before switch")
    for ctl in (25583, 25584):
        req = urllib.request.Request(f"http://127.0.0.1:{ctl}/v1/overrides", data=json.dumps({"scope": "pool", "target": "primary", "action": "down"}).encode(), method="POST")
        req.add_header("Authorization", "Bearer t0k"); req.add_header("Content-Type", "application/json")
        urllib.request.urlopen(req).read()
    want = bytes([127, 0, 0, 12])
    for s in socks:
        while time.time() < deadline and want not in ask(s, probe): time.sleep(0.05)
    d += compare("after switch")
finally:
    for p in procs: p.terminate()
    for r in runs: shutil.rmtree(r, ignore_errors=True)
sys.exit(1 if d else 0)
