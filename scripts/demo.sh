#!/usr/bin/env bash
# demo.sh -- install what is missing, build, and run ashiato's main job on the embedded default
# (SQLite, no Elasticsearch): an aggregator and three sensors on this machine, each sensor reading
# its department's share of sample campus traffic (scripts/sample_traffic.py) and shipping session
# batches over CurveZMQ to the aggregator, which stores them; then a summary of what arrived.
# Then it serves the HTTP API on 127.0.0.1:8005 (a demo user, three example commands) until
# Ctrl-C, with the sensors answering packet requests; --no-serve exits after the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
serve=1
for a in "$@"; do
  case "$a" in
    --no-serve) serve=0 ;;
    -h|--help) echo "usage: scripts/demo.sh [--no-serve]   (ASHIATO_DEMO_DIR, ASHIATO_DEMO_PORT, ASHIATO_DEMO_HTTP_PORT)"; exit 0 ;;
    *) echo "demo: unknown argument '$a' (see --help)" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh
scripts/build.sh build
bin=$(pwd)/build/bin
work=${ASHIATO_DEMO_DIR:-$(pwd)/demo}
port=${ASHIATO_DEMO_PORT:-5555}
http_port=${ASHIATO_DEMO_HTTP_PORT:-8005}
rm -rf "$work"
mkdir -p "$work/keys"
mkdir -m 700 "$work/sock"            # packet endpoints: a directory closed to others
python3 scripts/sample_traffic.py --out "$work/pcap" >/dev/null

# keys: the aggregator's, one per sensor, and the allow-list naming them
"$bin/ashiato" keygen --out "$work/keys/aggregator.key" >/dev/null
: > "$work/keys/allow-list"
sensors=()
for f in "$work"/pcap/sensor-*.pcap; do
  name=$(basename "$f" .pcap)
  sensors+=("$name")
  "$bin/ashiato" keygen --out "$work/keys/$name.key" --name "$name" |
    sed -n 's/^allow-list line: //p' >> "$work/keys/allow-list"
done

# detection's placement: each department's /24 is a segment watched by its sensor (what
# sample_traffic.py makes), the server segment has no sensor; everything else is "outside"
{
  echo "[segments]"
  for name in "${sensors[@]}"; do echo "dept-${name#sensor-} = 10.20.${name#sensor-}.0/24"; done
  echo "servers = 10.20.100.0/24"
  echo "[sensors]"
  for name in "${sensors[@]}"; do echo "$name = dept-${name#sensor-}"; done
} > "$work/detect.ini"

# the HTTP API's demo user: a fresh password each run, only its digest on disk
http=(--http-listen "")
sensor_serve=()
if [[ $serve -eq 1 ]]; then
  password=$(head -c 12 /dev/urandom | base64 | tr -d '/+=' | head -c 12)
  printf '%s\n' "$password" | "$bin/ashiato" user add --users "$work/users" analyst 2>/dev/null
  http=(--http-listen "127.0.0.1:$http_port" --http-users "$work/users"
        --http-audit-log "$work/audit.log" --packet-endpoint "ipc://$work/sock/packets")
fi
"$bin/ashiato-aggregator" --listen "tcp://127.0.0.1:$port" --key-file "$work/keys/aggregator.key" \
  --allow-list "$work/keys/allow-list" --store "sqlite://$work/sessions.db" \
  --detect-config "$work/detect.ini" "${http[@]}" \
  > "$work/aggregator.log" 2>&1 &
agg=$!
pids=()
trap 'kill $agg "${pids[@]}" 2>/dev/null || true' EXIT
sleep 0.5
if ! kill -0 $agg 2>/dev/null; then
  echo "demo: the aggregator did not start; see $work/aggregator.log:" >&2
  tail -3 "$work/aggregator.log" >&2
  exit 1
fi

for name in "${sensors[@]}"; do
  if [[ $serve -eq 1 ]]; then
    # keep the packets and answer requests for them after the input (through the aggregator)
    sensor_serve=(--pcap-dir "$work/packets-$name" --packet-endpoint "ipc://$work/sock/$name" --serve)
  fi
  "$bin/ashiato-sensor" --read "$work/pcap/$name.pcap" --name "$name" \
    --aggregator "tcp://127.0.0.1:$port" --key-file "$work/keys/$name.key" \
    --server-key "$work/keys/aggregator.key.pub" --outbox-dir "$work/outbox-$name" \
    "${sensor_serve[@]}" --stats 2> "$work/$name.log" &
  pids+=($!)
done
status=0
if [[ $serve -eq 1 ]]; then
  # serving sensors do not exit: wait until each has read its input and shipped it
  for i in "${!sensors[@]}"; do
    until grep -q "input done" "$work/${sensors[$i]}.log" 2>/dev/null; do
      kill -0 "${pids[$i]}" 2>/dev/null || { status=1; break; }
      sleep 0.2
    done
  done
  # the sensors stay up, so their last sessions and detection's alerts land a few seconds
  # later: wait (at most 20 s) until the stored sessions and alerts stop changing for 3 s
  python3 - "$work/sessions.db" <<'EOF_WAIT'
import sqlite3, sys, time
last, still = None, 0
for _ in range(40):
    time.sleep(0.5)
    try:
        con = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=2)
        now = con.execute("SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM alerts)").fetchone()
        con.close()
    except sqlite3.Error:
        continue
    still = still + 1 if now == last else 0
    last = now
    if still >= 6:
        break
EOF_WAIT
else
  for p in "${pids[@]}"; do wait "$p" || status=1; done
  kill -TERM $agg; wait $agg || true
  trap - EXIT
fi
if [[ $status -ne 0 ]]; then
  echo "demo: a sensor failed; see $work/sensor-*.log" >&2
  exit 1
fi

python3 scripts/summarize_store.py "$work/sessions.db"
cat <<EOF2

Everything above came from $work/sessions.db, written by the aggregator (log: $work/aggregator.log;
segments: $work/detect.ini).
Look further:
  sqlite3 $work/sessions.db "SELECT src_ip, count(*) FROM sessions WHERE packets = 1 AND transport = 'tcp' GROUP BY src_ip ORDER BY 2 DESC LIMIT 5"
  $bin/ashiato-sensor --help        $bin/ashiato-aggregator --help        $bin/ashiato --help
EOF2
[[ $serve -eq 1 ]] || exit 0

seed='packets == 1 && ip.protocol == tcp && ip.src != 10.20.0.0/16 && ip.dst != 10.20.0.0/16'
seed_url=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$seed")
cat <<EOF3

The HTTP API is serving on http://127.0.0.1:$http_port (digest auth; audit log: $work/audit.log).
Demo user: analyst   password: $password   (users file: $work/users, digests only)
The analyst's page (same user): http://127.0.0.1:$http_port/#date=-1&expression=$seed_url
Try, in another terminal:
  curl --anyauth 'http://analyst:$password@127.0.0.1:$http_port/sessions.json?date=-1&expression=$seed_url'
  ASHIATO_URL=http://127.0.0.1:$http_port ASHIATO_USER=analyst ASHIATO_PASSWORD=$password $bin/ashiato query '$seed'
  ASHIATO_URL=http://127.0.0.1:$http_port ASHIATO_USER=analyst ASHIATO_PASSWORD=$password $bin/ashiato pcap 'ip.dst == 10.20.100.10' -o /tmp/ashiato-demo.pcap
Serving until Ctrl-C.
EOF3
trap 'echo; echo "demo: stopping"; kill -TERM $agg "${pids[@]}" 2>/dev/null || true; wait || true; exit 0' INT TERM
wait $agg || true
