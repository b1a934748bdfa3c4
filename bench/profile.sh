#!/usr/bin/env bash
# Benchmark goroscope's goroutine-profile reader against the Go pprof
# library's parser (github.com/google/pprof/profile, what `go tool pprof`
# uses) on the same debug=0 profile of 100,000 distinct stacks. See
# bench/README.md.
#
# Knobs (environment):
#   N=100000   goroutines, each on its own stack (bench/pprofgen)
#   RUNS=20    timed runs per tool (hyperfine)
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
OUT="$BENCH/out/profile"
N="${N:-100000}"
RUNS="${RUNS:-20}"
GOROSCOPE="${CARGO_TARGET_DIR:-$ROOT/target}/release/goroscope"

SCRIPT=profile.sh
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
check_bench_env
command -v hyperfine >/dev/null || die "hyperfine is missing; install it with: apt-get install -y hyperfine"
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

# Wall time by hyperfine, to the microsecond (GNU time rounds to 10 ms, too
# coarse for runs of 60 ms); peak RSS by GNU time, one run each.
hyperfine -N -w 3 -r "$RUNS" --export-json "$OUT/hyperfine.json" \
	-n goroscope "$GOROSCOPE analyze $PROFILE" \
	-n go-pprof "$OUT/pprofgo $PROFILE" >&2
/usr/bin/time -v -o "$OUT/time.goroscope.txt" "$GOROSCOPE" analyze "$PROFILE" >/dev/null
/usr/bin/time -v -o "$OUT/time.go-pprof.txt" "$OUT/pprofgo" "$PROFILE" >/dev/null

export OUT RUNS N PROFILE want
PYTHONPATH="$BENCH" python3 - <<'PY'
import json, os
from timev import parse_time
out, runs = os.environ["OUT"], int(os.environ["RUNS"])
res = {}
for r in json.load(open(f"{out}/hyperfine.json"))["results"]:
    _, rss, _ = parse_time(f"{out}/time.{r['command']}.txt")
    res[r["command"]] = (r["median"], rss / 1024, r["times"])
size = os.path.getsize(os.environ["PROFILE"]) / 2**10
print(f"Profile: {os.environ['PROFILE']} ({size:.0f} KiB gzipped), {os.environ['want']} goroutines on {os.environ['N']} distinct stacks; {runs} runs each (hyperfine, after 3 warm-up runs).")
print()
print("| tool | median wall ms | peak RSS MiB | speed vs Go pprof |")
print("|---|---:|---:|---:|")
g = res["go-pprof"][0]
for tool, (med, rss, _) in res.items():
    print(f"| {tool} | {med * 1e3:.1f} | {rss:.1f} | {g / med:.2f}× |")
print()
for tool, (_, _, w) in res.items():
    print(f"- {tool} runs (ms): min {min(w) * 1e3:.1f}, max {max(w) * 1e3:.1f}")
print("- goroscope: `goroscope analyze PROFILE` (decode, classify every sample, census, top-10 summary); "
      "go-pprof: `profile.Parse` plus a walk of every sample's frames (bench/pprofgo)")
PY
