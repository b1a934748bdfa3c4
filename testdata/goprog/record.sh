#!/usr/bin/env bash
# Regenerates the goroutine-dump fixtures in tests/fixtures/go<MAJOR.MINOR>/
# (relative to the repository root) from the workload program in this
# directory. Runnable from any working directory; needs go and curl.
#
# The Go toolchain is whatever `go` selects in this directory; to record with
# another release without changing go.mod (which stays at the oldest recorded
# version, so version-gated GODEBUG defaults keep their old values), set
# GOTOOLCHAIN, e.g.
#
#   GOTOOLCHAIN=go1.27.3 testdata/goprog/record.sh   # -> tests/fixtures/go1.27/
#
# Every dump except the crash dump is checked against the manifest with
# `goprog -check` before it is kept, so a fixture that doesn't match
# expected.json is never written silently.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# Name the fixture directory after the toolchain actually used (go1.26.x ->
# go1.26), so recording with another Go version doesn't overwrite these.
gover="$(cd "$here" && go env GOVERSION)" # the toolchain that builds goprog
series="$(sed -E 's/^(go[0-9]+\.[0-9]+).*/\1/' <<<"$gover")"
out="$root/tests/fixtures/$series"
mkdir -p "$out"

tmp="$(mktemp -d)"
serve_pid=""
cleanup() {
	if [[ -n "$serve_pid" ]]; then kill "$serve_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# -trimpath: file paths in the dumps don't depend on where the repo is checked
# out (main package files print as goroscope.test/goprog/main.go).
(cd "$here" && go build -trimpath -o "$tmp/goprog" .)
bin="$tmp/goprog"

# Start every run from a clean environment as far as tracebacks go.
run() { env -u GOTRACEBACK -u GODEBUG "$@"; }

echo "recording with $gover into $out" >&2

run "$bin" -expect "$out/expected.json"

run "$bin" -out "$out/stack.txt"
run "$bin" -check "$out/stack.txt"

run GODEBUG=tracebackancestors=5 "$bin" -out "$out/ancestors.txt"
run "$bin" -check "$out/ancestors.txt"

run GODEBUG=tracebacklabels=1 "$bin" -out "$out/labels.txt"
run "$bin" -check "$out/labels.txt"
if ! grep -q 'trace_id' "$out/labels.txt"; then
	echo "record.sh: labels.txt shows no pprof labels" >&2
	exit 1
fi

# -serve: keep its stdin as a pipe we hold (it exits when that pipe closes).
coproc SERVE { run "$bin" -serve 127.0.0.1:0; }
serve_pid="$SERVE_PID"
serve_in="${SERVE[1]}"
if ! read -r -t 60 line <&"${SERVE[0]}"; then
	echo "record.sh: -serve did not report its address" >&2
	exit 1
fi
url="${line#listening on }"
curl -fsS "$url/debug/pprof/goroutine?debug=2" >"$out/debug2.txt"
# The profile forms of the same workload (tests/fixtures/*/profiles), and a
# heap profile: the wrong kind of profile, for the error message test.
mkdir -p "$out/profiles"
curl -fsS "$url/debug/pprof/goroutine" >"$out/profiles/goroutine.pb.gz"
curl -fsS "$url/debug/pprof/goroutine?debug=1" >"$out/profiles/goroutine_debug1.txt"
curl -fsS "$url/debug/pprof/heap" >"$out/profiles/heap.pb.gz"
curl -fsS "$url/expected" >"$tmp/expected_http.json"
exec {serve_in}>&- # EOF on stdin: the server exits by itself
wait "$serve_pid" || true
serve_pid=""
cmp "$tmp/expected_http.json" "$out/expected.json"
run "$bin" -check "$out/debug2.txt"

# -crash panics (exit status 2) and prints the traceback to stderr.
status=0
run GOTRACEBACK=system "$bin" -crash 2>"$out/crash_system.txt" || status=$?
if [[ "$status" -ne 2 ]]; then
	echo "record.sh: -crash exited with $status, want 2" >&2
	exit 1
fi
# Not fatal: a spinner still running on another CPU when the crash freezes the
# world prints "goroutine running on other thread; stack unavailable" and
# cannot be attributed to main.wSpin.
run "$bin" -check "$out/crash_system.txt" ||
	echo "record.sh: note: crash_system.txt differs from the manifest (see above)" >&2

# SIGQUIT with GOTRACEBACK=crash: the runtime dumps every goroutine, then
# every M's g0 ("goroutine 0 [idle]") with a register dump, "-----"
# separators and "SIGQUIT: quit" / "PC=" preambles; then the process aborts.
coproc QUIT { run GOTRACEBACK=crash "$bin" -serve 127.0.0.1:0 2>"$out/sigquit_crash.txt"; }
quit_pid="$QUIT_PID"
serve_pid="$quit_pid"
if ! read -r -t 60 line <&"${QUIT[0]}"; then
	echo "record.sh: -serve (for SIGQUIT) did not report its address" >&2
	exit 1
fi
# The coproc is a subshell: signal the goprog process itself.
kill -QUIT "$(pgrep -n -f "$bin -serve")"
wait "$quit_pid" || true
serve_pid=""
grep -q '^goroutine 0 ' "$out/sigquit_crash.txt" || {
	echo "record.sh: sigquit_crash.txt has no goroutine 0 block" >&2
	exit 1
}

echo "ok: $(cd "$out" && ls)" >&2
