# Shared by bench/run.sh and bench/profile.sh: messages and the checks
# both need. Source it after setting SCRIPT (for messages), N and RUNS.

die() { echo "$SCRIPT: error: $*" >&2; exit 1; }
log() { echo "$SCRIPT: $*" >&2; }

check_bench_env() {
	[[ -x /usr/bin/time ]] || die "/usr/bin/time (GNU time) is missing; install it with: apt-get install -y time"
	command -v go >/dev/null || die "go is not on PATH"
	command -v python3 >/dev/null || die "python3 is not on PATH"
	[[ "$N" =~ ^[0-9]+$ ]] || die "N must be a number, got '$N'"
	[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number, got '$RUNS'"
}
