#!/usr/bin/env bash
# The agent's footprint and what it costs the services it watches
# (README "Performance: the agent"). Three parts, real processes only:
#
#  1. footprint: `goroscope serve` watching 10 demo services (examples/demo)
#     every second for FOOT_SECS; peak RSS (VmHWM) and CPU per scrape;
#  2. CPU per scrape of a 10,000-goroutine profile (`--mode profile`);
#  3. target pause: a demo holding 100,000 goroutines, watched for
#     PAUSE_SECS by the agent with its defaults (auto, 15 s) and then by
#     the agent with `--mode dump` (a full dump every 15 s, what a
#     dump-based scraper does). The demo reports Go 1.26's
#     /sched/pauses/total/other:seconds histogram (profiles and dumps stop
#     the world there; GC pauses are counted elsewhere): the pauses each
#     run added, their p99 and maximum (bucket upper bounds).
#
# Knobs (environment): FOOT_SECS=30 PAUSE_SECS=90 N=100000
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
OUT="$BENCH/out/agent"
FOOT_SECS="${FOOT_SECS:-30}"
PAUSE_SECS="${PAUSE_SECS:-90}"
N="${N:-100000}"
RUNS=1
GOROSCOPE="${CARGO_TARGET_DIR:-$ROOT/target}/release/goroscope"

SCRIPT=agent.sh
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
check_bench_env
command -v curl >/dev/null || die "curl is not on PATH"
mkdir -p "$OUT"
log "building examples/demo and goroscope"
(cd "$ROOT/examples/demo" && go build -o "$OUT/demo" .)
(cd "$ROOT" && cargo build --release -p goroscope) || die "cargo build --release -p goroscope failed"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# start_demo NAME ARGS... : starts a demo on a free port; sets DEMO_URL.
# (No command substitution: its subshell would lose the pid.)
start_demo() {
	local name=$1
	shift
	"$OUT/demo" -addr 127.0.0.1:0 "$@" >"$OUT/$name.out" 2>&1 &
	pids+=($!)
	for _ in $(seq 600); do
		grep -q '^listening on ' "$OUT/$name.out" 2>/dev/null && break
		sleep 0.1
	done
	DEMO_URL=$(sed -n 's/^listening on //p' "$OUT/$name.out")
	[[ -n "$DEMO_URL" ]] || die "the demo $name did not start: $(cat "$OUT/$name.out")"
}

# run_agent SECONDS LOG ARGS... : runs the agent; sets AGENT_RSS (KiB) and
# AGENT_CPU (s).
run_agent() {
	local secs=$1 logf=$2
	shift 2
	"$GOROSCOPE" serve --listen 127.0.0.1:0 "$@" 2>"$logf" &
	local pid=$!
	pids+=("$pid")
	sleep "$secs"
	kill -0 "$pid" 2>/dev/null || die "the agent exited: $(cat "$logf")"
	AGENT_RSS=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
	# utime + stime, in clock ticks.
	AGENT_CPU=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$pid/stat")
	kill -TERM "$pid"
	wait "$pid" || true
}

log "part 1: 10 demo targets, scraped every second for ${FOOT_SECS}s"
targets=()
for i in $(seq 10); do
	start_demo "foot$i" -rps 10
	targets+=(--target "$DEMO_URL")
done
run_agent "$FOOT_SECS" "$OUT/foot.log" "${targets[@]}" --interval 1s --timeout 1s
foot_rss=$AGENT_RSS foot_cpu=$AGENT_CPU
foot_scrapes=$(grep -c 'collected=' "$OUT/foot.log" || true)
cleanup
pids=()

log "part 2: one demo with 10,000 parked goroutines, profiles every second for ${FOOT_SECS}s"
start_demo park10k -park 10000 -rps 0
run_agent "$FOOT_SECS" "$OUT/p10k.log" --target "$DEMO_URL" --mode profile --interval 1s --timeout 1s
p10k_rss=$AGENT_RSS p10k_cpu=$AGENT_CPU
p10k_scrapes=$(grep -c 'collected=profile' "$OUT/p10k.log" || true)
cleanup
pids=()

log "part 3: one demo with $N parked goroutines, ${PAUSE_SECS}s with auto (defaults), then ${PAUSE_SECS}s with --mode dump"
start_demo park -park "$N" -rps 0
url=$DEMO_URL
addr=${url#http://}
curl -sf "$url/demo/pauses" >"$OUT/pauses.0.json"
run_agent "$PAUSE_SECS" "$OUT/auto.log" --target "$url"
curl -sf "$url/demo/pauses" >"$OUT/pauses.1.json"
run_agent "$PAUSE_SECS" "$OUT/dump.log" --target "$url" --mode dump --interval 15s --timeout 15s
curl -sf "$url/demo/pauses" >"$OUT/pauses.2.json"

export OUT FOOT_SECS PAUSE_SECS N foot_rss foot_cpu foot_scrapes p10k_rss p10k_cpu p10k_scrapes addr
python3 - <<'PY' | tee "$OUT/results.md"
import json, os, re
e = os.environ
out = e["OUT"]

def pauses(a, b):
    """Pauses added between two snapshots: (count, p99 bound, max bound) in seconds."""
    x, y = json.load(open(f"{out}/pauses.{a}.json")), json.load(open(f"{out}/pauses.{b}.json"))
    bounds = y["buckets"]
    delta = [cb - ca for ca, cb in zip(x["counts"], y["counts"])]
    n = sum(delta)
    if n == 0:
        return 0, 0.0, 0.0
    # Bucket i holds pauses in [bounds[i], bounds[i+1]).
    upper = lambda i: bounds[i + 1]
    seen, p99 = 0, None
    for i, c in enumerate(delta):
        seen += c
        if p99 is None and seen >= 0.99 * n:
            p99 = upper(i)
    top = max(i for i, c in enumerate(delta) if c)
    return n, p99, upper(top)

def collections(log):
    txt = open(f"{out}/{log}").read()
    return {k: len(re.findall(rf"collected={k} ", txt)) for k in ("profile", "dump")}

def classes(log):
    """Whether the agent reported block classes: its scrapes logged goroutines."""
    return "goroutines=" in open(f"{out}/{log}").read()

fs, fc, fn = int(e["foot_rss"]), float(e["foot_cpu"]), int(e["foot_scrapes"])
ps, pc, pn = int(e["p10k_rss"]), float(e["p10k_cpu"]), int(e["p10k_scrapes"])
print(f"Agent footprint ({e['FOOT_SECS']} s each, `bench/agent.sh`):\n")
print("| run | scrapes | peak RSS | CPU per scrape |")
print("|---|---:|---:|---:|")
print(f"| 10 demo targets, 1 s interval, auto | {fn} | {fs/1024:.1f} MiB | {1000*fc/max(fn,1):.2f} ms |")
print(f"| 1 target with 10,000 goroutines, profile mode, 1 s | {pn} | {ps/1024:.1f} MiB | {1000*pc/max(pn,1):.2f} ms |")
print()
print(f"Target pause, demo with {int(e['N']):,} parked goroutines, {e['PAUSE_SECS']} s per policy "
      "(Go's /sched/pauses/total/other:seconds; bounds are histogram bucket upper bounds):\n")
print("| policy | collections | pauses added | p99 pause | max pause |")
print("|---|---|---:|---:|---:|")
for name, log, (a, b) in (("auto (defaults: 15 s, 10 ms budget)", "auto.log", (0, 1)),
                          ("dump every 15 s", "dump.log", (1, 2))):
    n, p99, mx = pauses(a, b)
    c = collections(log)
    print(f"| {name} | {c['profile']} profiles, {c['dump']} dumps | {n} | {p99*1e3:.3f} ms | {mx*1e3:.3f} ms |")
PY
