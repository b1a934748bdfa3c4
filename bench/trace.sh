#!/usr/bin/env bash
# Benchmark goroscope's execution trace reader against Go's own
# (golang.org/x/exp/trace, a generated copy of Go 1.26's internal/trace)
# on the same trace of a real Go 1.26 program, goroscope with its threads
# (the default) and on one thread (TRACECOUNT_LOCAL=1, --threads 1). See
# bench/README.md.
#
# Knobs (environment):
#   SECONDS_TRACED=20  how long testdata/tracegen runs (20 s: ~130 MB)
#   RUNS=3             timed runs per tool (alternating)
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
OUT="$BENCH/out/trace"
N="${SECONDS_TRACED:-20}"
RUNS="${RUNS:-3}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"

SCRIPT=trace.sh
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
check_bench_env
mkdir -p "$OUT"

log "building testdata/tracegen, testdata/tracecheck and goroscope"
(cd "$ROOT/testdata/tracegen" && go build -o "$OUT/tracegen" .)
(cd "$ROOT/testdata/tracecheck" && go build -o "$OUT/tracecheck" .)
(cd "$ROOT" && cargo build --release -p goroscope -p goroscope-core --example tracecount) ||
	die "cargo build --release failed"

TRACE="$OUT/trace-$N.trace"
if [[ ! -s "$TRACE" ]]; then
	log "recording $TRACE ($N s of the mixed workload, unpaced ping-pong)"
	"$OUT/tracegen" -o "$TRACE.tmp" -d "${N}s" -goroutines 64 -pingpong 4 -burst 0
	mv "$TRACE.tmp" "$TRACE"
fi
size=$(stat -c %s "$TRACE")
((size >= 100 * 1000 * 1000)) || die "the trace is only $size bytes; raise SECONDS_TRACED"
cat "$TRACE" >/dev/null

# Untimed: both readers must see the same events.
want=$("$OUT/tracecheck" -read-only "$TRACE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total_events"])')
got=$("$TARGET/examples/tracecount" "$TRACE" | sed -n 's/^total_events=\([0-9]*\).*/\1/p')
[[ "$want" == "$got" ]] || die "event counts differ: Go $want, goroscope $got"

run() { # tool round
	local tf="$OUT/time.$1.$2.txt"
	case $1 in
	goroscope-read) /usr/bin/time -v -o "$tf" "$TARGET/examples/tracecount" "$TRACE" >/dev/null ;;
	goroscope-read-1) TRACECOUNT_LOCAL=1 /usr/bin/time -v -o "$tf" "$TARGET/examples/tracecount" "$TRACE" >/dev/null ;;
	go-read) /usr/bin/time -v -o "$tf" "$OUT/tracecheck" -read-only "$TRACE" >/dev/null ;;
	goroscope-summary) /usr/bin/time -v -o "$tf" "$TARGET/goroscope" trace --format json "$TRACE" >/dev/null ;;
	goroscope-summary-1) /usr/bin/time -v -o "$tf" "$TARGET/goroscope" trace --threads 1 --format json "$TRACE" >/dev/null ;;
	go-summary) /usr/bin/time -v -o "$tf" "$OUT/tracecheck" -no-goroutines -compact "$TRACE" >/dev/null ;;
	esac
}
TOOLS=(goroscope-read goroscope-read-1 go-read goroscope-summary goroscope-summary-1 go-summary)
for ((r = 1; r <= RUNS; r++)); do
	for t in "${TOOLS[@]}"; do run "$t" "$r"; done
done

export OUT RUNS TRACE want size
PYTHONPATH="$BENCH" python3 - <<'PY'
import os, statistics
from timev import parse_time
out, runs = os.environ["OUT"], int(os.environ["RUNS"])
res = {}
for tool in ("goroscope-read", "goroscope-read-1", "go-read", "goroscope-summary", "goroscope-summary-1", "go-summary"):
    w, m, _ = zip(*(parse_time(f"{out}/time.{tool}.{r}.txt") for r in range(1, runs + 1)))
    res[tool] = (statistics.median(w), max(m) / 1024)
size = int(os.environ["size"]) / 1e6
print(f"Trace: {os.environ['TRACE']} ({size:.0f} MB, {int(os.environ['want']):,} events); {runs} runs each, median wall time.")
print()
print("| what | tool | wall s | MB/s | peak RSS MiB | speed vs Go |")
print("|---|---|---:|---:|---:|---:|")
for what, ours, go in (("read every event", "goroscope-read", "go-read"), ("summary", "goroscope-summary", "go-summary")):
    g = res[go][0]
    for tool in (ours, ours + "-1", go):
        wall, rss = res[tool]
        print(f"| {what} | {tool} | {wall:.2f} | {size / wall:.0f} | {rss:.1f} | {g / wall:.2f}× |")
PY
