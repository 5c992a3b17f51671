#!/usr/bin/env bash
# demo.sh -- install what is missing, build, and run ashiato's main job on the embedded default
# (no Elasticsearch): sample campus traffic made by scripts/sample_traffic.py, read by one sensor
# per department, sessions written as ECS JSON, then a summary of what was seen.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
work=${ASHIATO_DEMO_DIR:-$(pwd)/demo}
mkdir -p "$work"
python3 scripts/sample_traffic.py --out "$work/pcap" >/dev/null
for f in "$work"/pcap/sensor-*.pcap; do
  name=$(basename "$f" .pcap)
  build/bin/ashiato-sensor --read "$f" --name "$name" --emit-json "$work/$name.json" --stats \
    2> "$work/$name.stats"
done
python3 scripts/summarize_sessions.py "$work"/sensor-*.json
echo
echo "Sessions are in $work/sensor-*.json (one ECS document per line)."
echo "Look further:  build/bin/ashiato-sensor --help"
echo "               jq -c 'select(.network.packets == 1)' $work/sensor-1.json | head"
