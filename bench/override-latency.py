#!/usr/bin/env python3
"""Time from an override set over the control API to the changed DNS answer (bench/README.md).

Starts the real gtmd (no health checks: every member counts up) on loopback ports chosen by the OS,
then REPS times: POST `pool primary down` and poll `www.lab.example A` over UDP every 0.5 ms until it
answers the standby; DELETE the override and poll until it answers the primary again. Each time is
measured from just before the HTTP request is sent to the first reply with the new address.
Prints the median, min and max of both directions, and how often the first query sent after the API's reply
already got the new answer. Loopback only; every loop is bounded.

--starts N starts the server N times (REPS overrides each) and reports the first override after each start on
its own line (median over the starts); --cpus LIST runs the server with that CPU affinity (taskset; `0` holds it
to one CPU, as a container with one CPU does); --gtmd-b PATH interleaves a second binary's starts.

Usage: bench/override-latency.py [--gtmd PATH] [--gtmd-b PATH] [--reps N] [--starts N] [--cpus LIST]
"""
import argparse, http.client, json, os, shutil, signal, socket, statistics, struct, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRIMARY, STANDBY = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])


def query(sock, port, qid):
    name = b"".join(bytes([len(l)]) + l for l in b"www.lab.example".split(b".")) + b"\x00"
    sock.sendto(struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1), ("127.0.0.1", port))
    try:
        data, _ = sock.recvfrom(4096)
    except socket.timeout:
        return None
    return data[-4:] if struct.unpack(">H", data[:2])[0] == qid else None


def wait_answer(sock, port, want, bound):
    deadline = time.monotonic() + bound
    qid = 0
    while time.monotonic() < deadline:
        qid = (qid + 1) & 0xFFFF
        if query(sock, port, qid) == want:
            return time.monotonic()
        time.sleep(0.0005)
    raise SystemExit(f"no {'.'.join(map(str, want))} answer within {bound}s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gtmd", default=os.path.join(ROOT, ".build/debug/gtmd"))
    ap.add_argument("--gtmd-b")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--starts", type=int, default=1)
    ap.add_argument("--cpus")
    a = ap.parse_args()
    binaries = [("gtmd", a.gtmd)] + ([("gtmd-b", a.gtmd_b)] if a.gtmd_b else [])
    results = {label: {"first": [], "down": [], "up": [], "at_reply": 0} for label, _ in binaries}
    for _ in range(a.starts):
        for label, path in binaries:
            run(path, a.reps, a.cpus, results[label])
    ms = lambda xs: f"median {statistics.median(xs) * 1000:.1f} ms (min {min(xs) * 1000:.1f}, max {max(xs) * 1000:.1f})"
    for label, _ in binaries:
        r = results[label]
        if len(binaries) > 1 or a.starts > 1:
            print(f"{label}:")
        if a.starts > 1:
            print(f"first override after start -> changed answer: {ms(r['first'])}  n={a.starts}")
        print(f"override set -> changed answer:     {ms(r['down'])}  n={len(r['down'])}")
        print(f"override cleared -> changed answer: {ms(r['up'])}  n={len(r['up'])}")
        print(f"new answer already served at the API reply: {r['at_reply']}/{len(r['down']) + len(r['up'])}")


def run(binary, reps, cpus, out):
    """One start of `binary`: `reps` overrides set and cleared; times appended to `out`."""
    d = tempfile.mkdtemp(prefix="gtmd-ovl-")
    token = "bench-token"
    open(os.path.join(d, "token"), "w").write(token + "\n")
    open(os.path.join(d, "gtmd.yaml"), "w").write(f"""
zones:
  - origin: lab.example
    file: {ROOT}/zones/lab.example.zone
state_file: state.json
control:
  token_file: token
pools:
  primary: {{ members: [192.0.2.1] }}
  standby: {{ members: [192.0.2.2] }}
services:
  www.lab.example: {{ policy: failover, pools: [primary, standby], ttl: 30, degraded_ttl: 5 }}
""")
    ready = os.path.join(d, "ready.json")
    log = open(os.path.join(d, "gtmd.log"), "w")
    pin = ["taskset", "-c", cpus] if cpus else []
    p = subprocess.Popen(pin + [binary, "serve", "--config", os.path.join(d, "gtmd.yaml"), "--listen", "127.0.0.1:0",
                          "--control", "127.0.0.1:0", "--ready-file", ready, "--udp-workers", "1", "--log-level", "warning"],
                         stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(ready):
            if p.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("gtmd did not start: " + open(os.path.join(d, "gtmd.log")).read())
            time.sleep(0.02)
        time.sleep(0.05)
        info = json.load(open(ready))
        dns_port = int(info["listen"][0].rsplit(":", 1)[1])
        ctl_port = int(info["control"].rsplit(":", 1)[1])
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(0.5)
        wait_answer(sock, dns_port, PRIMARY, 5)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        body = json.dumps({"scope": "pool", "target": "primary", "action": "down"})
        down, up = out["down"], out["up"]
        first = len(down)
        for _ in range(reps):
            c = http.client.HTTPConnection("127.0.0.1", ctl_port, timeout=5)
            t0 = time.monotonic()
            c.request("POST", "/v1/overrides", body=body, headers=headers)
            r = c.getresponse(); r.read(); c.close()
            assert r.status == 200, r.status
            out["at_reply"] += query(sock, dns_port, 1) == STANDBY
            down.append(wait_answer(sock, dns_port, STANDBY, 5) - t0)
            c = http.client.HTTPConnection("127.0.0.1", ctl_port, timeout=5)
            t0 = time.monotonic()
            c.request("DELETE", "/v1/overrides?scope=pool&target=primary", headers=headers)
            r = c.getresponse(); r.read(); c.close()
            assert r.status == 200, r.status
            out["at_reply"] += query(sock, dns_port, 2) == PRIMARY
            up.append(wait_answer(sock, dns_port, PRIMARY, 5) - t0)
        out["first"].append(down[first])
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
