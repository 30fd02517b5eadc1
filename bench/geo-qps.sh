#!/usr/bin/env bash
# What nearest-region answers cost on the query path: one gtmd (release, 1 UDP worker) answering
#   static    : a static name (mail.lab.example A)
#   near      : a nearest-region name located by the source address
#   static-ecs: the static name with an ECS option (parsing and echo only: scope 0)
#   near-ecs  : the same name with an ECS option (10.2.3.0/24) located by the ECS address
# with RULES network rules (default 10000 random /24s, plus 10.1/16 and 10.2/16), interleaved rounds of
# dnsperf (-c 1 -T 1). Prints each round and the medians and ratios against the static name (the peer in
# the same run). usage: bench/geo-qps.sh [ROUNDS] [SECONDS] [RULES]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; secs=${2:-10}; rules=${3:-10000}
scripts/deps.sh --bench >/dev/null
scripts/build-release.sh >/dev/null
bin=$PWD/.build/release/gtmd
out=.build/bench/$(date +%Y%m%d-%H%M%S)-geo-qps; mkdir -p "$out"
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$out" "$rules" "$PWD" <<'PY'
import random, sys
out, n, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
random.seed(7)
nets = {"region-a": ["10.1.0.0/16"], "region-b": ["10.2.0.0/16"], "region-c": []}
seen = set()
while len(seen) < n:
    a, b, c = random.randint(11, 99), random.randint(0, 255), random.randint(0, 255)
    if (a, b, c) in seen: continue
    seen.add((a, b, c)); nets[random.choice(list(nets))].append(f"{a}.{b}.{c}.0/24")
with open(f"{out}/gtmd.yaml", "w") as f:
    f.write(f"""server: {{ udp_workers: 1 }}
zones: [{{ origin: lab.example, file: {root}/zones/lab.example.zone }}]
state_file: {out}/state.json
pools:
  pa: {{ region: region-a, members: [192.0.2.1] }}
  pb: {{ region: region-b, members: [192.0.2.2] }}
  pc: {{ region: region-c, members: [192.0.2.3] }}
services:
  near.lab.example: {{ policy: nearest, pools: [pa, pb, pc] }}
regions:
  region-a: {{ latitude: 50.11, longitude: 8.68 }}
  region-b: {{ latitude: 53.35, longitude: -6.26 }}
  region-c: {{ latitude: 40.71, longitude: -74.01 }}
geo:
  networks:
""")
    for r, l in nets.items():
        f.write(f"    {r}: [{', '.join(l)}]\n")
PY
echo "mail.lab.example A" > "$out/static.txt"
echo "near.lab.example A" > "$out/near.txt"
"$bin" serve --config "$out/gtmd.yaml" --listen "127.0.0.1:$port" --ready-file "$out/ready" >"$out/gtmd.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -f "$out/ready" ] && break; sleep 0.1; done
[ -f "$out/ready" ] || { cat "$out/gtmd.log"; exit 1; }
dig @127.0.0.1 -p "$port" near.lab.example +short +subnet=10.2.3.0/24 | grep -q 192.0.2.2 || { echo "near answer wrong"; exit 1; }
run() {  # kind file [dnsperf options]
  local kind=$1 file=$2; shift 2
  dnsperf -s 127.0.0.1 -p "$port" -d "$file" -l "$secs" -c 1 -T 1 "$@" 2>&1 | awk -v k="$kind" '/Queries per second/ {print k, $4}'
}
for r in $(seq "$rounds"); do
  run static "$out/static.txt" -e
  run static-ecs "$out/static.txt" -E 8:000118000a0203
  run near "$out/near.txt" -e
  run near-ecs "$out/near.txt" -E 8:000118000a0203
done | tee "$out/rounds.txt"
python3 - "$out/rounds.txt" "$rules" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = {k: statistics.median(float(v) for kk, v in rows if kk == k) for k in dict.fromkeys(k for k, _ in rows)}
print(f"medians over {len(rows) // len(med)} rounds, {sys.argv[2]} network rules:")
for k, v in med.items():
    print(f"  {k:9s} {v:10.0f} qps  {1e6 / v:6.2f} us/q  ratio to static {v / med['static']:.3f}")
PY
echo "results: $out"
