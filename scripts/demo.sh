#!/usr/bin/env bash
# demo.sh -- install what is missing, build, and run ashiato's main job on the embedded default
# (SQLite, no Elasticsearch): an aggregator and three sensors on this machine, each sensor reading
# its department's share of sample campus traffic (scripts/sample_traffic.py) and shipping session
# batches over CurveZMQ to the aggregator, which stores them; then a summary of what arrived.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
bin=$(pwd)/build/bin
work=${ASHIATO_DEMO_DIR:-$(pwd)/demo}
port=${ASHIATO_DEMO_PORT:-5555}
rm -rf "$work"
mkdir -p "$work/keys"
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

"$bin/ashiato-aggregator" --listen "tcp://127.0.0.1:$port" --key-file "$work/keys/aggregator.key" \
  --allow-list "$work/keys/allow-list" --store "sqlite://$work/sessions.db" \
  > "$work/aggregator.log" 2>&1 &
agg=$!
trap 'kill $agg 2>/dev/null || true' EXIT
sleep 0.5

pids=()
for name in "${sensors[@]}"; do
  "$bin/ashiato-sensor" --read "$work/pcap/$name.pcap" --name "$name" \
    --aggregator "tcp://127.0.0.1:$port" --key-file "$work/keys/$name.key" \
    --server-key "$work/keys/aggregator.key.pub" --outbox-dir "$work/outbox-$name" \
    --stats 2> "$work/$name.log" &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
kill -TERM $agg; wait $agg || true
trap - EXIT
if [[ $status -ne 0 ]]; then
  echo "demo: a sensor failed; see $work/sensor-*.log" >&2
  exit 1
fi

python3 scripts/summarize_store.py "$work/sessions.db"
cat <<EOF2

Everything above came from $work/sessions.db, written by the aggregator (log: $work/aggregator.log).
Look further:
  sqlite3 $work/sessions.db "SELECT src_ip, count(*) FROM sessions WHERE packets = 1 AND transport = 'tcp' GROUP BY src_ip ORDER BY 2 DESC LIMIT 5"
  $bin/ashiato-sensor --help        $bin/ashiato-aggregator --help        $bin/ashiato --help
EOF2
