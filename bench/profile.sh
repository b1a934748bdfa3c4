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

die() { echo "profile.sh: error: $*" >&2; exit 1; }
log() { echo "profile.sh: $*" >&2; }

[[ -x /usr/bin/time ]] || die "/usr/bin/time (GNU time) is missing; install it with: apt-get install -y time"
command -v go >/dev/null || die "go is not on PATH"
[[ "$N" =~ ^[0-9]+$ ]] || die "N must be a number, got '$N'"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number, got '$RUNS'"
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
python3 - <<'PY'
import os, re, statistics
out, runs = os.environ["OUT"], int(os.environ["RUNS"])
def parse(path):
    t = open(path).read()
    el = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
    secs = 0.0
    for part in el.split(":"):
        secs = secs * 60 + float(part)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
    return secs, rss
res = {}
for tool in ("goroscope", "go-pprof"):
    w, m = zip(*(parse(f"{out}/time.{tool}.{r}.txt") for r in range(1, runs + 1)))
    res[tool] = (statistics.median(w), max(m), w)
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
