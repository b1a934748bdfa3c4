#!/usr/bin/env bash
# Leak detector on a steady Go program we did not write: Debian's
# Prometheus server (its own /debug/pprof), watched by `goroscope watch`
# every INTERVAL for SECS; zero suspects expected (README "Leak detection").
# Knobs: SECS=180 INTERVAL=2s
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
OUT="$BENCH/out/leak"
SECS="${SECS:-180}"
INTERVAL="${INTERVAL:-2s}"
GOROSCOPE="${CARGO_TARGET_DIR:-$ROOT/target}/release/goroscope"
command -v prometheus >/dev/null || { echo "leak.sh: prometheus is not installed (apt-get install prometheus)" >&2; exit 1; }
mkdir -p "$OUT"
(cd "$ROOT" && cargo build --release -p goroscope)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$OUT/prometheus.yml" <<YML
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: self
    static_configs: [{targets: ['127.0.0.1:$port']}]
YML
rm -rf "$OUT/data"
prometheus --config.file="$OUT/prometheus.yml" --storage.tsdb.path="$OUT/data" \
	--web.listen-address="127.0.0.1:$port" >"$OUT/prometheus.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.2; done
"$GOROSCOPE" watch "http://127.0.0.1:$port" --interval "$INTERVAL" >"$OUT/watch.txt" &
w=$!
sleep "$SECS"
kill -INT "$w"
wait "$w"
echo "$(prometheus --version 2>&1 | head -1), watched every $INTERVAL for ${SECS}s:"
tail -n +2 "$OUT/watch.txt" | grep -c 'goroutines (' | sed 's/^/scrapes: /'
grep -c 'leak suspects:' "$OUT/watch.txt" | sed 's/^/scrapes with a suspect: /' || true
sed -n '/leak suspect(s) after\|no leak suspect after/,$p' "$OUT/watch.txt"
