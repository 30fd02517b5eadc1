#!/usr/bin/env python3
"""Writes scripts/link/gtmd.order: the functions a gtmd server runs, for the release link's symbol ordering.

The release link (Package.swift, Linux) passes this file to lld as --symbol-ordering-file, so the code that
start-up and serving run sits together at the front of .text. The kernel maps 64 KiB around every page a process
touches in its binary; with start-up code spread over the 26 MB of .text, ~16 MB of it ended up resident.
Packed, the same work touches a few MB. An outdated list costs nothing but RSS: symbols that no longer exist are
skipped (scripts/build-release.sh passes --no-warn-symbol-ordering), new functions land after the listed ones.
Remake it after large changes to start-up or serving code, from a binary built by scripts/build-release.sh.

How: a release gtmd runs under valgrind's callgrind (every function executed, by its symbol) on config/lab.yaml
with the lab's two backends (started here on loopback) and a state file holding a short event history, then answers a spread of queries (UDP, TCP, EDNS, ECS,
DNSSEC OK, NXDOMAIN, NODATA), the control API (status, metrics, a pool forced down and the override cleared) and a
SIGHUP reload. Then callgrind's counters are dumped and zeroed, and the steady state runs: a few probe rounds and
steering ticks, the same queries, a metrics scrape. The functions of that second part (what a server runs all day)
come first in the list, the rest of the start-up after them: once start-up is over gtmd drops its file pages
(`gtmd_release_loaded_pages`), and what it touches again then is packed instead of spread over all of the start-up
code (64 KiB of fault-around each).

After the functions come the zero-initialised variables (.bss) the server writes: the runtime's metadata and
witness-table caches, `swift_once` tokens, the allocator's first pool, spread by object file over 1 MB of .bss.
Every page written there stays resident and private, and one written at start cost a page fault or two (zero page,
then a copy). They are found by running the release binary itself (no valgrind) through the same work and reading
its .bss from /proc/PID/mem once idle: every symbol holding a non-zero word is listed (lld orders .bss input
sections by them too, local symbols included), so those sections sit together (idle .bss 107 -> 61 pages).
Nothing leaves 127.0.0.0/8 and ::1; every wait is bounded.

  scripts/link/make-order.py [--gtmd PATH] [--data-only]
      (default: .build/release/gtmd, built if missing; --data-only keeps the file's function list and finds the
      .bss part again, without valgrind)
"""
import argparse
import bisect
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from startup import free_port, lab_config, write_history  # noqa: E402  (bench/startup.py: the same lab set-up)
from valgrind_copy import valgrind_copy  # noqa: E402

OUT = os.path.join(ROOT, "scripts", "link", "gtmd.order")


def wait_for(what, cond, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.2)
    raise SystemExit(f"make-order.py: timed out waiting for {what}")


def dig(port, *args):
    r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+time=5", "+tries=1"] + list(args),
                       capture_output=True, text=True, timeout=30)
    return r.stdout


def get(cport, path):
    return subprocess.run(["curl", "-s", "-m", "20", f"http://127.0.0.1:{cport}{path}"],
                          capture_output=True, text=True, timeout=30).stdout


def dump(pid, name):
    """Has callgrind write what it counted so far to a new file (marked `name`) and start counting from zero."""
    r = subprocess.run(["callgrind_control", f"--dump={name}", str(pid)], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise SystemExit(f"make-order.py: callgrind_control --dump failed: {r.stdout}{r.stderr}")


def read_trigger(path):
    """Why a callgrind dump was written: NAME for `desc: Trigger: dump NAME` (callgrind_control --dump=NAME)."""
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("desc: Trigger:"):
                return line.split(":", 2)[2].strip().removeprefix("dump ")
            if line.startswith("fn="):
                break
    return ""


def functions(paths, chosen):
    """The function names of the callgrind files `paths` (in the order they were written): all of them, and those
    of the files in `chosen`. Names are compressed (`fn=(7) name` once, then `fn=(7)`), and a later dump may refer
    to a number an earlier one defined, so every file is read for the numbers."""
    numbered, every, picked = {}, set(), set()
    for path in paths:
        into = (every, picked) if path in chosen else (every,)
        with open(path, errors="replace") as f:
            for line in f:
                m = re.match(r"^c?fn=\((\d+)\)(?: (\S+))?", line)
                if not m:
                    continue
                if m.group(2):
                    numbered[m.group(1)] = m.group(2)
                name = numbered.get(m.group(1))
                if name and not name.startswith("0x"):
                    for names in into:
                        names.add(re.sub(r"'\d+$", "", name))
    return every, picked


QUERIES = [
    ["www.lab.example", "A"], ["www.lab.example", "AAAA"], ["lab.example", "SOA"], ["lab.example", "NS"],
    ["nothere.lab.example", "A"], ["www.lab.example", "TXT"], ["www.lab.example", "A", "+tcp"],
    ["www.lab.example", "A", "+subnet=192.0.2.0/24"], ["www.lab.example", "A", "+dnssec"],
    ["www.lab.example", "A", "+noedns"], ["example.test", "SOA"], ["lab.example", "ANY"],
    ["www.lab.example", "A", "+nsid", "+cookie"], ["version.bind", "TXT", "CH"],
]


def exercise(gtmd, run, port, cport, server, reload_secs):
    """Start-up's work for the lab server: its first answer, queries of every kind, the control API, an override
    set and cleared, a SIGHUP reload (`reload_secs` for its compile and probe round)."""
    wait_for("the first answer", lambda: "127.0.0.11" in dig(port, "+short", "www.lab.example", "A"), 300)
    for q in QUERIES * 3:
        dig(port, *q)
    subprocess.run(["dig", "@::1", "-p", str(port), "www.lab.example", "A"], capture_output=True, timeout=30)
    for path in ("/status", "/metrics", "/healthz", "/readyz", "/v1/overrides", "/v1/events"):
        get(cport, path)
    at = ["--config", os.path.join(run, "lab.yaml"), "--control", f"127.0.0.1:{cport}", "--timeout", "60"]
    for cmd in (["pool"] + at + ["primary", "down", "--note", "order"], ["clear"] + at + ["pool", "primary"]):
        subprocess.run([gtmd, "override"] + cmd, check=True, capture_output=True, timeout=120)
        want = "127.0.0.12" if "down" in cmd else "127.0.0.11"
        wait_for(f"www A {want}", lambda: want in dig(port, "+short", "www.lab.example", "A"), 60)
    server.send_signal(signal.SIGHUP)
    time.sleep(reload_secs)


def steady_state(port, cport):
    """The steady state: probe rounds and steering steps (interval 1 s), queries, a metrics scrape."""
    time.sleep(4)
    for q in QUERIES:
        dig(port, *q)
    get(cport, "/metrics")
    time.sleep(2)


def elf_section(path, name):
    """(address, size) of section `name` in the ELF file `path` (readelf -S)."""
    out = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        f = line.replace("[ ", "[").split()
        if len(f) > 5 and f[1] == name:
            return int(f[3], 16), int(f[5], 16)
    raise SystemExit(f"make-order.py: no {name} section in {path}")


def written_bss(gtmd, pid, symbols):
    """The .bss symbols of the running `gtmd` (process `pid`) that hold a non-zero word now, in address order;
    only names defined once (ordering by a name defined in several objects would move all of them)."""
    addr, size = elf_section(gtmd, ".bss")
    base = None
    real = os.path.realpath(gtmd)
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and fields[2] == "00000000" and os.path.realpath(fields[5]) == real:
                base = int(fields[0].split("-")[0], 16)
                break
    if base is None:
        raise SystemExit(f"make-order.py: {gtmd} not mapped in process {pid}")
    with open(f"/proc/{pid}/mem", "rb") as f:
        f.seek(base + addr)
        live = f.read(size)
    bss = sorted((a, n) for a, n in symbols.bss if addr <= a < addr + size and symbols.defined_once(n))
    starts = [a for a, _ in bss]
    written = {}  # a dict keeps the first-seen (address) order
    for off in range(0, len(live) - 7, 8):
        if live[off:off + 8] != bytes(8):
            i = bisect.bisect_right(starts, addr + off) - 1
            if i >= 0:
                written[bss[i][1]] = True
    return list(written)


def kill_all(procs):
    """Kills and reaps every process of `procs` still running (the lab's backends and the server)."""
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def start_lab(run, procs):
    """Free ports for DNS, the control API and the lab's backends; the two backends started (added to `procs`);
    in `run` a state file with a history, as a server that has run before has (its reading is part of a start).
    Returns the three ports."""
    used, ports = set(), []
    for _ in range(3):
        ports.append(free_port(used))
        used.add(ports[-1])
    for addr in ("127.0.0.11", "127.0.0.12"):
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "Tests", "tools", "lab_backend.py"), addr, str(ports[2])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    write_history(os.path.join(run, "state.json"), 20)
    return ports


def data_order(gtmd, symbols):
    """The .bss symbols the release binary writes through start-up's work and a steady state (see the top)."""
    run = tempfile.mkdtemp(prefix="gtmd-order-data-")
    procs = []
    try:
        port, cport, bport = start_lab(run, procs)
        log = open(os.path.join(run, "gtmd.log"), "w")
        server = subprocess.Popen([gtmd] + lab_config(run, port, cport, bport), stdout=log, stderr=subprocess.STDOUT)
        procs.append(server)
        exercise(gtmd, run, port, cport, server, 1)
        steady_state(port, cport)
        return written_bss(gtmd, server.pid, symbols)
    finally:
        kill_all(procs)
        shutil.rmtree(run, ignore_errors=True)


class Symbols:
    """`gtmd`'s symbol table (nm, read once): how often each name is defined, and the .bss symbols."""

    def __init__(self, gtmd):
        self.counts, self.bss = {}, []
        nm = subprocess.run(["nm", "--defined-only", gtmd], capture_output=True, text=True, check=True).stdout
        for line in nm.splitlines():
            fields = line.split()
            if len(fields) == 3:
                self.counts[fields[2]] = self.counts.get(fields[2], 0) + 1
                if fields[1] in "bB":
                    self.bss.append((int(fields[0], 16), fields[2]))

    def defined_once(self, name):
        return self.counts.get(name) == 1


class LinkMap:
    """The release link's map (`gtmd.map` beside the binary, written by scripts/build-release.sh): which names are
    defined only as functions in input sections of their own (`obj.o:(.text.NAME)`, from -function-sections). Such
    a name may be defined in many objects (a metadata accessor or outlined copy `$sSaySSGMaTm`, 42 bytes, in every
    module that uses `[String]`): listing it moves every copy, and nothing else, to the front. A name with a
    definition inside a shared section (the runtime's and stdlib's objects have no function sections: one
    `.text` of 1.6 MB for `Swift.o`) would drag that whole section along, so it stays where it is."""

    def __init__(self, gtmd):
        self.path = os.path.join(os.path.dirname(gtmd), "gtmd.map")
        self.own = {}
        if not os.path.exists(self.path):
            print(f"make-order.py: no {self.path}: names defined more than once are left out", file=sys.stderr)
            return
        # lld's map: `VMA LMA Size Align` then the output section, an input section or a symbol, each one column
        # further right (the name's column tells which).
        line_re = re.compile(r"^\s*[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+\d+\s+(\S.*)$")
        columns, section = [], None
        with open(self.path, errors="replace") as f:
            for line in f:
                m = line_re.match(line)
                if not m:
                    continue
                col = m.start(1)
                if col not in columns:
                    columns = sorted(columns + [col])[:3]
                kind = columns.index(col) if col in columns else -1
                text = m.group(1).rstrip("\n")
                if kind == 1:
                    paren = text.rfind(":(")
                    section = text[paren + 2:-1] if paren >= 0 and text.endswith(")") else None
                elif kind == 2 and section is not None and section.startswith(".text"):
                    self.own[text] = self.own.get(text, True) and section == ".text." + text

    def own_sections(self, name):
        return self.own.get(name, False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gtmd")
    ap.add_argument("--data-only", action="store_true")
    a = ap.parse_args()
    gtmd = a.gtmd or os.path.join(ROOT, ".build", "release", "gtmd")
    if not os.path.exists(gtmd):
        subprocess.run([os.path.join(ROOT, "scripts", "build-release.sh")], cwd=ROOT, check=True)
    for tool in ("dig", "curl") + (() if a.data_only else ("valgrind",)):
        if not shutil.which(tool):
            raise SystemExit(f"make-order.py: {tool} is missing (scripts/deps.sh --bench installs it)")
    symbols = Symbols(gtmd)
    if a.data_only:
        # The function list stays as it is: the old list without its .bss symbols.
        bss = {n for _, n in symbols.bss}
        with open(OUT) as f:
            funcs = [n for n in f.read().split() if n not in bss]
        write_order(funcs, data_order(gtmd, symbols))
        return

    run = tempfile.mkdtemp(prefix="gtmd-order-")
    procs = []
    try:
        port, cport, bport = start_lab(run, procs)
        out = os.path.join(run, "callgrind.out")
        # A copy valgrind runs (no debug sections, writable constants: see bench/valgrind_copy.py).
        plain = os.path.join(run, "gtmd")
        valgrind_copy(gtmd, plain)
        argv = ["valgrind", "--tool=callgrind", "--demangle=no", "--dump-instr=no", "--separate-recs=1",
                f"--callgrind-out-file={out}", plain] + lab_config(run, port, cport, bport)
        log = open(os.path.join(run, "gtmd.log"), "w")
        server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        procs.append(server)
        exercise(gtmd, run, port, cport, server, 3)
        dump(server.pid, "start")
        steady_state(port, cport)
        dump(server.pid, "steady")
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        # callgrind.out.1, .2 (the dumps), then callgrind.out (the rest, written at exit).
        parts = sorted((f for f in os.listdir(run) if f.startswith("callgrind.out.")),
                       key=lambda f: int(f.rsplit(".", 1)[1]))
        parts = [os.path.join(run, f) for f in parts + ["callgrind.out"]]
        steady_parts = [p for p in parts if read_trigger(p) == "steady"]
        if len(steady_parts) != 1:
            raise SystemExit(f"make-order.py: no steady-state dump among {parts}")
        names, steady = functions(parts, steady_parts)
        # A name defined more than once (local copies of outlined helpers, value witnesses and merged metadata
        # accessors, one in each object) is listed only where every copy is a function section of its own
        # (LinkMap): `$sSqwxx` in the runtime's objects would pull the whole .text of each to the front, about
        # 1.5 MB of code nobody runs. Left out, the copies a start runs (~50) each cost a 64 KiB window of their own.
        links = LinkMap(gtmd)
        names = {n for n in names if symbols.defined_once(n) or links.own_sections(n)}
        steady = {n for n in steady if n in names}
        if len(names) < 1000 or len(steady) < 100:
            raise SystemExit(f"make-order.py: only {len(names)} functions seen ({len(steady)} in the steady state); "
                             f"see {run}/gtmd.log")
        print(f"make-order.py: {len(names)} functions, {len(steady)} of the steady state first")
        write_order(sorted(steady) + sorted(names - steady), data_order(gtmd, symbols))
    except BaseException:
        print(f"make-order.py: failed; the server's log: {run}/gtmd.log", file=sys.stderr)
        run = None
        raise
    finally:
        kill_all(procs)
        if run:
            shutil.rmtree(run, ignore_errors=True)


def write_order(funcs, data):
    if len(data) < 100:
        raise SystemExit(f"make-order.py: only {len(data)} .bss symbols written by the server")
    with open(OUT, "w") as f:
        f.write("".join(n + "\n" for n in funcs + data))
    print(f"make-order.py: {len(funcs)} functions, then {len(data)} .bss symbols -> {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
