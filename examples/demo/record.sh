#!/usr/bin/env bash
# Records the snapshots `goroscope demo` replays when Go is not installed:
# runs examples/demo for a minute and saves, every 5 seconds, its goroutine
# profile (debug=0) and full dump (debug=2, with pprof labels:
# GODEBUG=tracebacklabels=1), gzipped, into examples/demo/recording/.
# Usage: examples/demo/record.sh   (needs Go and curl)
set -euo pipefail
cd "$(dirname "$0")"
out=recording
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/demo" .
GODEBUG=tracebacklabels=1 "$tmp/demo" -addr 127.0.0.1:0 > "$tmp/out" &
pid=$!
for _ in $(seq 50); do grep -q listening "$tmp/out" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$tmp/out")
rm -f "$out"/*.gz
for i in $(seq -w 1 12); do
	sleep 5
	curl -sf "$base/debug/pprof/goroutine" -o "$out/profile-$i.pb.gz"
	curl -sf "$base/debug/pprof/goroutine?debug=2" | gzip -9 > "$out/dump-$i.txt.gz"
done
{
	echo "Recorded by examples/demo/record.sh on $(date -u +%Y-%m-%d) with $(go version | cut -d' ' -f3)."
	echo "12 snapshots 5 s apart of examples/demo (default flags): profile-NN.pb.gz is"
	echo "/debug/pprof/goroutine (debug=0), dump-NN.txt.gz /debug/pprof/goroutine?debug=2"
	echo "(GODEBUG=tracebacklabels=1), gzipped. Same licence as the repository."
} > "$out/README.md"
ls -la "$out"
