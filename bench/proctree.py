"""Process-tree helpers shared by the bench scripts (startup.py, zone_scale.py, speed.py): a server started through
`sh -c`/`timeout` is measured with all its descendants, and its threads are read in one place."""

import os
import signal
import subprocess


def stat_table():
    """pid -> (ppid, utime+stime in clock ticks) for every process (from /proc/<pid>/stat)."""
    t = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            f = s[s.rindex(")") + 2 :].split()
            t[int(d)] = (int(f[1]), int(f[11]) + int(f[12]))
        except (OSError, ValueError, IndexError):
            pass
    return t


def tree(pid):
    """pid and all its descendants (from /proc)."""
    children = {}
    for p, (ppid, _) in stat_table().items():
        children.setdefault(ppid, []).append(p)
    out, todo = [], [pid]
    while todo and len(out) < 100000:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def threads(pid):
    """The threads of process pid now, from /proc/<pid>/task: tid -> (name, CPU ns from schedstat, context
    switches, voluntary and not). A thread that ends while it is read is left out; no process, no threads."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
            switches = 0
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        switches += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out[tid] = (name, ns, switches)
    return out


def stop_group(proc, grace=10):
    """Stop a server started with start_new_session=True: SIGTERM to its process group, SIGKILL after grace s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
