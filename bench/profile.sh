#!/usr/bin/env bash
# Benchmark goroscope's goroutine-profile reader against the Go pprof
# library's parser (github.com/google/pprof/profile, what `go tool pprof`
# uses) on the same debug=0 profile of 100,000 distinct stacks. See
# bench/README.md.
#
# Knobs (environment):
#   N=100000   goroutines, each on its own stack (bench/pprofgen)
#   RUNS=5     timed runs per tool (alternating, order flipped each round)
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
OUT="$BENCH/out/profile"
N="${N:-100000}"
RUNS="${RUNS:-5}"
GOROSCOPE="${CARGO_TARGET_DIR:-$ROOT/target}/release/goroscope"

SCRIPT=profile.sh
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
check_bench_env
mkdir -p "$OUT"

log "building bench/pprofgen, bench/pprofgo and goroscope"
(cd "$BENCH/pprofgen" && go build -o "$OUT/pprofgen" .)
(cd "$BENCH/pprofgo" && go build -o "$OUT/pprofgo" .)
(cd "$ROOT" && cargo build --release -p goroscope) || die "cargo build --release -p goroscope failed"

PROFILE="$OUT/profile-$N.pb.gz"
if [[ ! -s "$PROFILE" ]]; then
	log "generating $PROFILE ($N goroutines on distinct stacks)"
	"$OUT/pprofgen" -n "$N" -out "$PROFILE.tmp"
	mv "$PROFILE.tmp" "$PROFILE"
fi

# Untimed: both must see the same goroutines.
want=$("$OUT/pprofgo" "$PROFILE" | sed -n 's/^goroutines=\([0-9]*\).*/\1/p')
got=$("$GOROSCOPE" analyze --format json --top 1 "$PROFILE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
[[ "$want" == "$got" ]] || die "goroutine counts differ: Go pprof $want, goroscope $got"

run() { # tool round
	local tf="$OUT/time.$1.$2.txt"
	case $1 in
	goroscope) /usr/bin/time -v -o "$tf" "$GOROSCOPE" analyze "$PROFILE" >/dev/null ;;
	go-pprof) /usr/bin/time -v -o "$tf" "$OUT/pprofgo" "$PROFILE" >/dev/null ;;
	esac
}
for ((r = 1; r <= RUNS; r++)); do
	if ((r % 2)); then run goroscope "$r"; run go-pprof "$r"; else run go-pprof "$r"; run goroscope "$r"; fi
done

export OUT RUNS N PROFILE want
PYTHONPATH="$BENCH" python3 - <<'PY'
import os, statistics
from timev import parse_time
out, runs = os.environ["OUT"], int(os.environ["RUNS"])
res = {}
for tool in ("goroscope", "go-pprof"):
    w, m, _ = zip(*(parse_time(f"{out}/time.{tool}.{r}.txt") for r in range(1, runs + 1)))
    res[tool] = (statistics.median(w), max(m) / 1024, w)
size = os.path.getsize(os.environ["PROFILE"]) / 2**10
print(f"Profile: {os.environ['PROFILE']} ({size:.0f} KiB gzipped), {os.environ['want']} goroutines on {os.environ['N']} distinct stacks; {runs} runs each.")
print()
print("| tool | median wall s | peak RSS MiB | speed vs Go pprof |")
print("|---|---:|---:|---:|")
g = res["go-pprof"][0]
for tool, (med, rss, _) in res.items():
    print(f"| {tool} | {med:.3f} | {rss:.1f} | {g / med:.2f}× |")
print()
for tool, (_, _, w) in res.items():
    print(f"- {tool} per run (s): {', '.join(f'{x:.3f}' for x in w)}")
print("- goroscope: `goroscope analyze PROFILE` (decode, classify every sample, census, top-10 summary); "
      "go-pprof: `profile.Parse` plus a walk of every sample's frames (bench/pprofgo)")
PY
