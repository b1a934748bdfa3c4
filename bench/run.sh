#!/usr/bin/env bash
# Benchmark goroscope's dump parser against DataDog/gostackparse on the same
# generated goroutine dump. See bench/README.md.
#
# Knobs (environment):
#   N=500000         goroutines in the generated dump
#   RUNS=3           timed runs per tool (tools alternate, order flips per round)
#   TOOLS="goroscope goroscope-1thread gostackparse"   which tools to run
#                    (goroscope-1thread: goroscope --threads 1)
#   GEN_ARGS=""      extra flags for bench/gen (e.g. "-labelkeys 2")
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
OUT="$BENCH/out"
N="${N:-500000}"
RUNS="${RUNS:-3}"
TOOLS="${TOOLS:-goroscope goroscope-1thread gostackparse}"
GEN_ARGS="${GEN_ARGS:-}"
DUMP="$OUT/dump.txt"
STAMP="$OUT/dump.stamp"
GOROSCOPE="${CARGO_TARGET_DIR:-$ROOT/target}/release/goroscope"
GSP="$OUT/gostackparse-bench"

SCRIPT=run.sh
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
has_tool() { [[ " $TOOLS " == *" $1 "* ]]; }
has_goroscope() { has_tool goroscope || has_tool goroscope-1thread; }

check_bench_env
for t in $TOOLS; do
	[[ $t == goroscope || $t == goroscope-1thread || $t == gostackparse ]] || die "unknown tool '$t' in TOOLS"
done

mkdir -p "$OUT/runs"

# --- build -----------------------------------------------------------------
log "building bench/gen and the gostackparse runner"
(cd "$BENCH/gen" && go build -o "$OUT/gen" .)
(cd "$BENCH/gostackparse" && go build -o "$GSP" .)

if has_goroscope; then
	log "building goroscope (cargo build --release -p goroscope)"
	command -v cargo >/dev/null || die "cargo is not on PATH"
	if ! (cd "$ROOT" && cargo build --release -p goroscope); then
		die "'cargo build --release -p goroscope' failed in $ROOT; goroscope must build before it can be benchmarked (run with TOOLS=gostackparse to bench gostackparse alone)"
	fi
	[[ -x "$GOROSCOPE" ]] || die "cargo build succeeded but $GOROSCOPE does not exist"
fi

# --- dump ------------------------------------------------------------------
# Regenerate when N, the generator flags or the generator source change.
want_stamp="n=$N
args=$GEN_ARGS
gen=$(cd "$BENCH/gen" && find . -name '*.go' -o -name go.mod | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1)"
if [[ -f "$DUMP" && -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" ]]; then
	log "reusing $DUMP (N=$N)"
else
	log "generating $DUMP with N=$N (needs ~2 GB RAM per 500k goroutines)"
	rm -f "$DUMP" "$STAMP"
	# shellcheck disable=SC2086
	"$OUT/gen" -n "$N" -out "$DUMP.tmp" $GEN_ARGS
	mv "$DUMP.tmp" "$DUMP"
	printf '%s\n' "$want_stamp" > "$STAMP"
fi
DUMP_BYTES=$(stat -c %s "$DUMP")
DUMP_HEADERS=$(grep -c '^goroutine ' "$DUMP" || true)

# --- goroutine counts (untimed) --------------------------------------------
log "warming the page cache"
cat "$DUMP" > /dev/null
: > "$OUT/runs/counts.txt"
if has_goroscope; then
	log "counting goroutines with goroscope (untimed)"
	if ! count=$("$GOROSCOPE" analyze --format json "$DUMP" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'); then
		die "goroscope analyze --format json failed or its output has no \"total\""
	fi
	# Both goroscope variants run the same parse; the thread count does not
	# change the result (tests/cli.rs checks that byte for byte).
	echo "goroscope $count" >> "$OUT/runs/counts.txt"
	echo "goroscope-1thread $count" >> "$OUT/runs/counts.txt"
fi

# --- timed runs ------------------------------------------------------------
run_tool() { # tool run
	local tool=$1 r=$2 tf="$OUT/runs/time.$1.$2.txt"
	log "run $r/$RUNS: $tool"
	case $tool in
	goroscope)
		/usr/bin/time -v -o "$tf" "$GOROSCOPE" analyze --format json "$DUMP" > /dev/null ||
			die "goroscope failed in run $r (see $tf)"
		;;
	goroscope-1thread)
		/usr/bin/time -v -o "$tf" "$GOROSCOPE" analyze --threads 1 --format json "$DUMP" > /dev/null ||
			die "goroscope --threads 1 failed in run $r (see $tf)"
		;;
	gostackparse)
		/usr/bin/time -v -o "$tf" "$GSP" "$DUMP" > "$OUT/runs/gostackparse.$r.out" ||
			die "gostackparse runner failed in run $r (see $tf)"
		;;
	esac
}

read -r -a tools <<< "$TOOLS"
rm -f "$OUT"/runs/time.*.txt "$OUT"/runs/gostackparse.*.out
for ((r = 1; r <= RUNS; r++)); do
	if ((r % 2 == 1)); then order=("${tools[@]}"); else order=(); for ((i = ${#tools[@]} - 1; i >= 0; i--)); do order+=("${tools[i]}"); done; fi
	for t in "${order[@]}"; do run_tool "$t" "$r"; done
done
if has_tool gostackparse; then
	echo "gostackparse $(sed -n 's/.*goroutines=\([0-9]*\).*/\1/p' "$OUT/runs/gostackparse.1.out")" >> "$OUT/runs/counts.txt"
fi

# --- report ----------------------------------------------------------------
export OUT RUNS TOOLS N DUMP_BYTES DUMP_HEADERS
export CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($(nproc) cpus)"
export GOV="$(go version)"
export RUSTV="$(rustc --version 2>/dev/null || echo 'rustc: n/a')"
export REV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit')"
PYTHONPATH="$BENCH" python3 - <<'PY' | tee "$OUT/results.md"
import os, re, statistics, datetime

out, runs = os.environ["OUT"], int(os.environ["RUNS"])
tools = os.environ["TOOLS"].split()
size = int(os.environ["DUMP_BYTES"])
mib = size / 2**20
headers = int(os.environ["DUMP_HEADERS"])

from timev import parse_time

counts = {}
for line in open(os.path.join(out, "runs", "counts.txt")):
    k, v = line.split()
    counts[k] = int(v)

res = {}
for t in tools:
    walls, rsss, cpus = [], [], []
    for r in range(1, runs + 1):
        w, k, c = parse_time(os.path.join(out, "runs", f"time.{t}.{r}.txt"))
        walls.append(w)
        rsss.append(k / 1024)
        cpus.append(c)
    med = statistics.median(walls)
    res[t] = dict(walls=walls, med=med, tput=mib / med if med > 0 else float("inf"),
                  rss=max(rsss), cpu=statistics.median(cpus))

ref = res.get("gostackparse")
print(f"## goroscope vs gostackparse — {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
print()
print(f"Dump: `bench/out/dump.txt`, {mib:.1f} MiB, {headers} goroutine headers (N={os.environ['N']}); "
      f"{runs} runs per tool, page cache warm; wall time and peak RSS from `/usr/bin/time -v`.")
print()
print("| tool | dump MiB | goroutines | median wall s | median CPU s (user+sys) | MiB/s | peak RSS MiB | RSS % of dump | throughput vs gostackparse |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for t in tools:
    d = res[t]
    ratio = f"{d['tput'] / ref['tput']:.2f}×" if ref else "n/a"
    print(f"| {t} | {mib:.1f} | {counts.get(t, 'n/a')} | {d['med']:.2f} | {d['cpu']:.2f} | {d['tput']:.1f} | "
          f"{d['rss']:.1f} | {100 * d['rss'] / mib:.0f}% | {ratio} |")
print()
if "goroscope" in res and ref:
    print(f"**goroscope/gostackparse throughput: {res['goroscope']['tput'] / ref['tput']:.2f}×**")
    print()
for t in tools:
    print(f"- {t} wall per run (s): {', '.join(f'{w:.2f}' for w in res[t]['walls'])}")
vals = {t: counts[t] for t in tools if t in counts}
same = len(set(vals.values()) | {headers}) == 1
print(f"- goroutine counts: dump headers {headers}, "
      + ", ".join(f"{t} {v}" for t, v in vals.items())
      + (" — all agree" if same else " — **MISMATCH**"))
print(f"- goroscope command: `goroscope analyze --format json dump.txt > /dev/null` (parse + analysis + JSON output; "
      f"parser threads: one per core, the default; goroscope-1thread adds `--threads 1`); "
      f"gostackparse: `gostackparse.Parse` on a bufio.Reader of the file, in a small Go program")
print(f"- machine: {os.environ['CPU']}; {os.environ['GOV']}; {os.environ['RUSTV']}; repo {os.environ['REV']}")
PY
log "results written to $OUT/results.md"
