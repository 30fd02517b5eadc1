#!/usr/bin/env python3
"""Writes the seed corpora under Fuzz/corpus/<target>/ (small, committed; re-run after changing it)."""
import os, struct

here = os.path.dirname(os.path.abspath(__file__))

def name(n):
    out = b""
    for l in n.strip(".").split("."):
        if l:
            out += bytes([len(l)]) + l.encode()
    return out + b"\0"

def opt(size=1232, options=b"", version=0, do=False):
    return b"\0" + struct.pack(">HHBBHH", 41, size, 0, version, 0x8000 if do else 0, len(options)) + options

def option(code, data):
    return struct.pack(">HH", code, len(data)) + data

def query(qname, qtype, qclass=1, flags=0x0100, edns=None, qid=0x1234):
    ar = 1 if edns is not None else 0
    return struct.pack(">HHHHHH", qid, flags, 1, 0, 0, ar) + name(qname) + struct.pack(">HH", qtype, qclass) + (edns or b"")

ecs4 = option(8, bytes([0, 1, 24, 0, 10, 1, 1]))
ecs6 = option(8, bytes([0, 2, 56, 0]) + bytes([0x20, 1, 0xd, 0xb8, 1, 2, 3]))
nsid = option(3, b"")
cookie = option(10, bytes(range(8)))
queries = {
    "www-a": query("www.lab.example", 1),
    "www-a-edns-nsid": query("www.lab.example", 1, edns=opt(options=nsid, do=True)),
    "www-a-ecs4": query("www.lab.example", 1, edns=opt(options=ecs4)),
    "www-aaaa-ecs6-cookie": query("wWw.LaB.eXaMpLe", 28, edns=opt(options=ecs6 + cookie)),
    "near-a-ecs4": query("near.lab.example", 1, edns=opt(options=option(8, bytes([0, 1, 24, 0, 10, 2, 3])))),
    "near-aaaa-ecs6": query("near.lab.example", 28, edns=opt(options=ecs6)),
    "near-a-source": query("near.lab.example", 1, edns=opt()),
    "apex-any": query("lab.example", 255),
    "apex-soa": query("lab.example", 6, edns=opt(size=512)),
    "nxdomain": query("nope.lab.example", 1),
    "chain": query("chain.lab.example", 1),
    "loop": query("loop1.lab.example", 1),
    "wildcard-txt": query("x.wild.lab.example", 16),
    "referral": query("host.sub.lab.example", 1),
    "big-txt-noedns": query("big.lab.example", 16),
    "big-txt-edns": query("big.lab.example", 16, edns=opt(size=4096)),
    "axfr": query("lab.example", 252),
    "ch-version": query("version.bind", 16, qclass=3),
    "refused": query("example.com", 1),
    "notify-opcode": query("lab.example", 6, flags=0x2000),
    "badvers": query("www.lab.example", 1, edns=opt(version=1)),
    "compression-loop": struct.pack(">HHHHHH", 1, 0x100, 1, 0, 0, 0) + b"\xc0\x0c\0\x01\0\x01",
    "two-opts": query("www.lab.example", 1, edns=opt() + opt()).replace(b"\0\0\0\0\0\x01", b"\0\0\0\0\0\x02", 1),
    # Issue 14: DNAME synthesis, CNAME into a delegation, glue outside the cut, DS at a cut, HTTPS
    # additional data, QCLASS ANY, QTYPE OPT, TSIG (NOTAUTH/BADKEY).
    "dname-a": query("wWw.LeGaCy.lab.example", 1, edns=opt()),
    "dname-nx-noedns": query("a.b.c.legacy.lab.example", 16),
    "dname-long": query(("x" * 63 + ".") * 3 + "legacy.lab.example", 1),
    "cname-into-cut": query("tocut.lab.example", 1, edns=opt(size=512)),
    "referral-glue-outside": query("host.child.lab.example", 28),
    "ds-at-cut": query("child.lab.example", 43, edns=opt(do=True)),
    "https-additional": query("svc.lab.example", 65),
    "qclass-any": query("www.lab.example", 1, qclass=255),
    "qtype-opt": query("lab.example", 41),
    "tsig": struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 1) + name("www.lab.example") + struct.pack(">HH", 1, 1)
            + name("k1") + struct.pack(">HHIH", 250, 255, 0, 61) + name("hmac-sha256")
            + bytes([0, 0, 0x6B, 0x0A, 0x3D, 0x2F, 1, 44, 0, 32]) + bytes(32) + bytes([0x12, 0x34, 0, 0, 0, 0]),
}
edns = {
    "nsid": struct.pack(">HBB", 1232, 0, 0) + nsid,
    "ecs4": struct.pack(">HBB", 1232, 0, 0) + ecs4,
    "ecs6-do": struct.pack(">HBB", 4096, 0, 0x80) + ecs6,
    "ecs-zero": struct.pack(">HBB", 512, 0, 0) + option(8, bytes([0, 1, 0, 0])),
    "cookie-nsid": struct.pack(">HBB", 1400, 0, 0) + cookie + nsid,
}
zone_head = "$TTL 300\n@ SOA ns1 host 1 3600 600 86400 30\n@ NS ns1\nns1 A 192.0.2.1\n"
zones = {
    "minimal": zone_head,
    "records": zone_head + "www 30 IN A 192.0.2.2\n AAAA 2001:db8::2\nalias CNAME www\n*.wild TXT \"a;b\" (\n \"c\" )\n"
               "sub NS ns.sub\nns.sub A 192.0.2.9\nmx MX 10 mail\nsrv._tcp SRV 0 0 443 www\nx TYPE999 \\# 2 abcd\n",
    "directives": "$ORIGIN fuzz.example.\n$TTL 1h30m\n" + zone_head.split("\n", 1)[1] + "$ORIGIN sub.fuzz.example.\na A 192.0.2.3\n",
    "errors": zone_head + "www CNAME a\nwww A 192.0.2.1\nbad A 1.2.3\n(\n",
    "dname": zone_head + "old DNAME fuzz.example.\nwww A 192.0.2.4\nhop CNAME a.old\nsvc HTTPS 1 www alpn=h2\n",
    "signed": zone_head + "@ RRSIG SOA 13 2 300 20300101000000 20200101000000 1 fuzz.example. AAAA\n",
}
configs = {
    "minimal": "zones:\n  - origin: lab.example\n    file: lab.example.zone\n",
    "server": "server:\n  listen: [127.0.0.1:5300, \"[::1]:5300\"]\n  edns_buffer_size: 1232\n  nsid: hex:0a0b\n"
              "  tcp: { max_connections: 10, idle_timeout: 2s }\n  rrl: { responses_per_second: 5, slip: 2, exempt: [10.0.0.0/8] }\n",
}
for f in ("lab.yaml", "example.yaml"):
    with open(os.path.join(here, "..", "config", f)) as fh:
        configs["shipped-" + f.replace(".yaml", "")] = fh.read()

for target, seeds in (("query", queries), ("responder", queries), ("edns", edns), ("zone", zones), ("config", configs)):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for k, v in seeds.items():
        with open(os.path.join(d, k), "wb") as fh:
            fh.write(v if isinstance(v, bytes) else v.encode())
