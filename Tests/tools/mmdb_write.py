#!/usr/bin/env python3
"""Writes a small MaxMind DB (.mmdb, format 2.0) for tests: a test-only writer, no dependencies.

usage: mmdb_write.py OUT.mmdb < spec.json
spec: {"ip_version": 6, "database_type": "gtmd-Test-City",
       "networks": [{"network": "198.51.100.0/24", "data": {"country": {"iso_code": "DE"}, ...}}, ...]}
IPv4 networks in an IPv6 database go below ::/96, where libmaxminddb looks IPv4 addresses up.
Networks must not overlap. Values: dict, list, str, float (double), int (uint32), bool.
"""
import ipaddress, json, struct, sys, time

def ctrl(type_, size):
    out = bytearray()
    if type_ <= 7:
        first = type_ << 5
    else:
        first = 0
    if size < 29:
        first |= size; tail = b""
    elif size < 29 + 256:
        first |= 29; tail = bytes([size - 29])
    elif size < 285 + 65536:
        first |= 30; tail = struct.pack(">H", size - 285)
    else:
        first |= 31; tail = struct.pack(">I", size - 65821)[1:]
    out.append(first)
    if type_ > 7:
        out.append(type_ - 7)
    return bytes(out) + tail

class U:
    """An unsigned integer of a given MaxMind type: 5 = uint16, 6 = uint32, 9 = uint64."""
    def __init__(self, type_, value, width):
        self.type_, self.value, self.width = type_, value, width

def encode(v):
    if isinstance(v, U):
        b = v.value.to_bytes(v.width, "big").lstrip(b"\0")
        return ctrl(v.type_, len(b)) + b
    if isinstance(v, bool):
        return ctrl(14, 1 if v else 0)
    if isinstance(v, dict):
        out = ctrl(7, len(v))
        for k, x in v.items():
            out += encode(str(k)) + encode(x)
        return out
    if isinstance(v, list):
        out = ctrl(11, len(v))
        for x in v:
            out += encode(x)
        return out
    if isinstance(v, str):
        b = v.encode()
        return ctrl(2, len(b)) + b
    if isinstance(v, float):
        return ctrl(3, 8) + struct.pack(">d", v)
    if isinstance(v, int):
        b = v.to_bytes(4, "big").lstrip(b"\0")
        return ctrl(6, len(b)) + b
    raise TypeError(v)

def main():
    out_path = sys.argv[1]
    spec = json.load(sys.stdin)
    ipv = spec.get("ip_version", 6)
    depth = 128 if ipv == 6 else 32
    data = bytearray()
    # tree: list of [left, right]; each record None | ("n", index) | ("d", offset)
    tree = [[None, None]]
    for item in spec["networks"]:
        net = ipaddress.ip_network(item["network"], strict=True)
        bits = int(net.network_address)
        plen = net.prefixlen
        if net.version == 4:
            if ipv == 6:
                plen += 96  # ::a.b.c.d
        elif ipv == 4:
            raise SystemExit("IPv6 network in an IPv4 database")
        offset = len(data)
        data += encode(item["data"])
        node = 0
        for i in range(plen):
            b = (bits >> (depth - 1 - i)) & 1
            rec = tree[node][b]
            if i == plen - 1:
                if rec is not None:
                    raise SystemExit(f"{item['network']} overlaps another network")
                tree[node][b] = ("d", offset)
            else:
                if rec is None:
                    tree.append([None, None]); rec = ("n", len(tree) - 1); tree[node][b] = rec
                elif rec[0] == "d":
                    raise SystemExit(f"{item['network']} is inside another network")
                node = rec[1]
    n = len(tree)
    def value(rec):
        if rec is None: return n
        if rec[0] == "n": return rec[1]
        return n + 16 + rec[1]
    out = bytearray()
    for left, right in tree:
        out += value(left).to_bytes(4, "big") + value(right).to_bytes(4, "big")  # record size 32
    out += b"\0" * 16 + data
    out += b"\xab\xcd\xefMaxMind.com"
    meta = {
        "binary_format_major_version": U(5, 2, 2), "binary_format_minor_version": U(5, 0, 2),
        "build_epoch": U(9, int(time.time()), 8), "database_type": spec.get("database_type", "gtmd-Test"),
        "description": {"en": "gtmd test database"}, "ip_version": U(5, ipv, 2), "languages": ["en"],
        "node_count": U(6, n, 4), "record_size": U(5, 32, 2),
    }
    out += encode(meta)
    with open(out_path, "wb") as f:
        f.write(out)

main()
