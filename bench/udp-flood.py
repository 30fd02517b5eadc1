#!/usr/bin/env python3
"""Sends one identical DNS query at a fixed rate from one source address for a while and counts what
comes back: full answers, truncated (TC=1, RRL slip) replies, nothing.
usage: bench/udp-flood.py SOURCE_ADDR PORT QNAME SECONDS RATE [DEST_ADDR=127.0.0.1]"""
import select, socket, struct, sys, threading, time

src, port, qname, secs, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
dst = sys.argv[6] if len(sys.argv) > 6 else "127.0.0.1"
wire = b"".join(bytes([len(l)]) + l.encode() for l in qname.strip(".").split(".")) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((src, 0))
counts = {"full": 0, "tc": 0, "other": 0}
reply_bytes = [0]
done = threading.Event()

def receive():
    while not done.is_set() or select.select([s], [], [], 0.5)[0]:
        if not select.select([s], [], [], 0.2)[0]:
            continue
        m = s.recv(4096)
        reply_bytes[0] += len(m)
        if len(m) < 12: counts["other"] += 1
        elif m[2] & 0x02: counts["tc"] += 1
        elif struct.unpack(">H", m[6:8])[0] > 0: counts["full"] += 1
        else: counts["other"] += 1

t = threading.Thread(target=receive); t.start()
sent, start = 0, time.monotonic()
while True:
    now = time.monotonic() - start
    if now >= secs: break
    due = int(now * rate)
    while sent < due:
        s.sendto(struct.pack(">HHHHHH", sent & 0xFFFF, 0, 1, 0, 0, 0) + wire + b"\0\x01\0\x01", (dst, port))
        sent += 1
    time.sleep(0.001)
done.set(); t.join()
print(f"sent {sent} in {secs:.0f} s ({sent/secs:.0f}/s): full answers {counts['full']} ({counts['full']/secs:.1f}/s), "
      f"TC slips {counts['tc']} ({counts['tc']/secs:.1f}/s), other {counts['other']}, "
      f"no reply {sent - sum(counts.values())}, reply bytes {reply_bytes[0]/secs:.0f}/s "
      f"(query bytes {sent * (16 + len(wire)) / secs:.0f}/s)")
