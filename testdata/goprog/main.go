// Command goprog is the ground-truth generator for goroscope's parser tests.
//
// It starts a fixed workload of goroutines, each kind parked in a different
// goroutine state / wait reason, waits until every one of them has really
// reached its blocking point (verified by parsing its own runtime.Stack
// output), and then emits a goroutine dump in one of several ways. Next to the
// dump it can write a manifest (expected.json) that says, per kind, how many
// goroutines there are and what state they must be in.
//
// Identification rule (for consumers of the manifest): a goroutine belongs to
// kind K if K is the deepest frame (the one closest to the goroutine's entry,
// i.e. the last one printed before "created by") of the goroutine's OWN stack
// whose function name starts with "main.w". Only the goroutine's own frames
// count: the "created by main.wParent ..." line and any "[originating from
// goroutine N]:" ancestor sections (GODEBUG=tracebackancestors) are NOT frames
// for this purpose (wChild's ancestor section contains main.wParent).
// Every workload function is the goroutine's entry function and is started
// directly with `go wX(...)`, and no other function in this program has a
// name starting with "w" (helpers such as deepRec deliberately don't), so the
// rule is unambiguous. Goroutines with no main.w frame (main, runtime, net/http
// server goroutines in -serve mode) belong to no kind.
//
// Only the standard library is used, so the module has no dependencies.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/* on http.DefaultServeMux for -serve
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ---------------------------------------------------------------------------
// Manifest
// ---------------------------------------------------------------------------

// kindSpec is what a consumer may assert about all goroutines of one kind.
type kindSpec struct {
	Count int `json:"count"`
	// WaitReason is the exact text in the header brackets when the state is
	// "waiting"; "" for kinds that are not waiting (syscall, spinners).
	WaitReason string `json:"wait_reason"`
	// States lists the acceptable states: running, runnable, syscall,
	// waiting, preempted.
	States     []string `json:"states"`
	BlockClass string   `json:"block_class"`
	// Locked: the header contains ", locked to thread".
	Locked bool `json:"locked"`
	// Labels holds the pprof labels that EVERY goroutine of the kind carries
	// (only visible with GODEBUG=tracebacklabels=1). For wLabeled the values
	// differ per goroutine, so the common map is empty and the exact
	// per-goroutine maps are listed in LabelSets (order not significant).
	Labels    map[string]string   `json:"labels"`
	LabelSets []map[string]string `json:"label_sets,omitempty"`
}

type manifest struct {
	GoVersion string              `json:"go_version"`
	Kinds     map[string]kindSpec `json:"kinds"`
}

// Counts are small, mostly distinct and prime-ish so that a parser that merges
// or splits kinds produces an obviously wrong number.
const (
	nChanRecv      = 11
	nChanSend      = 7
	nSelect        = 5
	nSelectNoCases = 3
	nNilRecv       = 2
	nNilSend       = 2
	nMutex         = 13
	nRWRLock       = 4
	nRWLock        = 1 // must be exactly one: a second writer queues on rw.w instead
	nRWLockQueued  = 2
	nWaitGroup     = 6
	nCond          = 3
	nIOWait        = 4
	nFdReadQueued  = 2
	nSleep         = 5
	nSyscall       = 2
	nLocked        = 2
	nSpin          = 3
	nLabeled       = 3
	nDeep          = 2
	nParent        = 2 // each parent starts one wChild
	nGeneric       = 2

	deepRecDepth = 150 // > tracebackInnerFrames+tracebackOuterFrames (100), forces elision
)

// labelSet returns the deterministic pprof labels of the i-th wLabeled
// goroutine (W3C trace-context shaped: 32 and 16 lowercase hex digits).
func labelSet(i int) map[string]string {
	return map[string]string{
		"trace_id": fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e47%02x", 0x30+i),
		"span_id":  fmt.Sprintf("00f067aa0ba902%02x", 0xb0+i),
	}
}

func buildManifest() manifest {
	waiting := func(n int, reason, class string) kindSpec {
		return kindSpec{Count: n, WaitReason: reason, States: []string{"waiting"}, BlockClass: class, Labels: map[string]string{}}
	}
	k := map[string]kindSpec{
		"main.wChanRecv":      waiting(nChanRecv, "chan receive", "chan_receive"),
		"main.wChanSend":      waiting(nChanSend, "chan send", "chan_send"),
		"main.wSelect":        waiting(nSelect, "select", "select"),
		"main.wSelectNoCases": waiting(nSelectNoCases, "select (no cases)", "nil_or_forever"),
		"main.wNilRecv":       waiting(nNilRecv, "chan receive (nil chan)", "nil_or_forever"),
		"main.wNilSend":       waiting(nNilSend, "chan send (nil chan)", "nil_or_forever"),
		// The goroutine holding mutexA forever, itself parked on a channel.
		"main.wMutexHolder": waiting(1, "chan receive", "chan_receive"),
		"main.wMutex":       waiting(nMutex, "sync.Mutex.Lock", "mutex"),
		// The reader holding rwmu.RLock forever, itself parked on a channel.
		"main.wRWReadHolder": waiting(1, "chan receive", "chan_receive"),
		"main.wRWLock":       waiting(nRWLock, "sync.RWMutex.Lock", "rwmutex"),
		"main.wRWRLock":      waiting(nRWRLock, "sync.RWMutex.RLock", "rwmutex"),
		// Extra writers queue on the RWMutex's internal sync.Mutex (rw.w), so
		// their wait reason is that of a plain mutex; the frame
		// sync.(*RWMutex).Lock on their stack is what makes them rwmutex.
		"main.wRWLockQueued": waiting(nRWLockQueued, "sync.Mutex.Lock", "rwmutex"),
		"main.wWaitGroup":    waiting(nWaitGroup, "sync.WaitGroup.Wait", "waitgroup"),
		"main.wCond":         waiting(nCond, "sync.Cond.Wait", "cond"),
		"main.wIOWait":       waiting(nIOWait, "IO wait", "io_wait"),
		"main.wIOAccept":     waiting(1, "IO wait", "io_wait"),
		// Second reader on a conn that already has a reader: it waits for the
		// fd's read lock (internal/poll.fdMutex), a runtime semaphore.
		"main.wFdReadQueued": waiting(nFdReadQueued, "semacquire", "semaphore"),
		"main.wSleep":        waiting(nSleep, "sleep", "sleep"),
		"main.wSyscall": {Count: nSyscall, WaitReason: "", States: []string{"syscall"},
			BlockClass: "syscall", Labels: map[string]string{}},
		"main.wLocked": {Count: nLocked, WaitReason: "chan receive", States: []string{"waiting"},
			BlockClass: "chan_receive", Locked: true, Labels: map[string]string{}},
		// Spinners are whatever the scheduler/STW left them as. When a dump
		// stops the world they are usually async-preempted to "runnable";
		// in a crash dump they may still be "running" (possibly with
		// "goroutine running on other thread; stack unavailable", i.e. no
		// frames at all); a concurrent GC stack scan can leave "preempted".
		"main.wSpin": {Count: nSpin, WaitReason: "", States: []string{"running", "runnable", "preempted"},
			BlockClass: "none", Labels: map[string]string{}},
		"main.wLabeled":      waiting(nLabeled, "chan receive", "chan_receive"),
		"main.wDeep":         waiting(nDeep, "chan receive", "chan_receive"),
		"main.wParent":       waiting(nParent, "chan receive", "chan_receive"),
		"main.wChild":        waiting(nParent, "chan receive", "chan_receive"),
		"main.wGeneric[...]": waiting(nGeneric, "chan receive", "chan_receive"),
	}
	lab := k["main.wLabeled"]
	for i := 0; i < nLabeled; i++ {
		lab.LabelSets = append(lab.LabelSets, labelSet(i))
	}
	k["main.wLabeled"] = lab
	return manifest{GoVersion: runtime.Version(), Kinds: k}
}

// ---------------------------------------------------------------------------
// Workload. Every function below whose name starts with "w" is a goroutine
// entry point and names a kind. They are tiny on purpose: the blocking
// operation is written inline so the kind's frame is directly below the
// runtime/sync frames.
// ---------------------------------------------------------------------------

var (
	never    = make(chan struct{}) // nobody ever sends on or closes this
	sendSink = make(chan struct{}) // nobody ever receives from this

	mutexA sync.Mutex // held forever by wMutexHolder
	rwmu   sync.RWMutex

	wgNeverDone sync.WaitGroup
	condMu      sync.Mutex
	cond        = sync.NewCond(&condMu)

	// Kept reachable so finalizers never close them.
	keepConns   []net.Conn
	keepLns     []net.Listener
	pipeWriters []int

	spinSink atomic.Int64
)

func wChanRecv() { <-never }

func wChanSend() { sendSink <- struct{}{} }

// wSelect has two cases that can never proceed.
func wSelect() {
	select {
	case <-never:
	case sendSink <- struct{}{}:
	}
}

func wSelectNoCases() { select {} }

func wNilRecv() {
	var c chan int
	<-c
}

func wNilSend() {
	var c chan int
	c <- 1
}

// wMutexHolder takes mutexA, reports that it has it, and never releases it.
func wMutexHolder(locked chan<- struct{}) {
	mutexA.Lock()
	close(locked)
	<-never
}

func wMutex() { mutexA.Lock() }

// wRWReadHolder holds a read lock forever so that the writer can never get in.
func wRWReadHolder(locked chan<- struct{}) {
	rwmu.RLock()
	close(locked)
	<-never
}

// wRWLock is the single pending writer: it owns rw.w and waits for the
// reader count to drain ("sync.RWMutex.Lock").
func wRWLock() { rwmu.Lock() }

// wRWRLock readers arrive after the writer is pending, so RLock blocks.
func wRWRLock() { rwmu.RLock() }

// wRWLockQueued writers arrive after wRWLock owns rw.w, so they block on that
// internal sync.Mutex ("sync.Mutex.Lock" under sync.(*RWMutex).Lock).
func wRWLockQueued() { rwmu.Lock() }

func wWaitGroup() { wgNeverDone.Wait() }

func wCond() {
	condMu.Lock()
	for { // never signalled; loop only guards against spurious wakeups
		cond.Wait()
	}
}

// wIOWait reads from a TCP conn whose peer never writes.
func wIOWait(c net.Conn) {
	var b [1]byte
	c.Read(b[:])
	<-never // unreachable unless the peer goes away
}

// wIOAccept waits in Accept on a listener nobody dials.
func wIOAccept(ln net.Listener) {
	ln.Accept()
	<-never
}

// wFdReadQueued reads a conn that already has a reader parked in IO wait, so
// it blocks earlier, acquiring the fd's read lock.
func wFdReadQueued(c net.Conn) {
	var b [1]byte
	c.Read(b[:])
	<-never
}

func wSleep() { time.Sleep(time.Hour) }

// wSyscall does a raw, blocking read(2) on an empty pipe (the fd is not
// registered with the netpoller), so the goroutine stays in state "syscall".
func wSyscall(fd int) {
	var b [1]byte
	for {
		syscall.Read(fd, b[:])
	}
}

func wLocked() {
	runtime.LockOSThread()
	<-never
}

var spinStarted atomic.Int32

// wSpin burns CPU forever without calling anything that could block (the
// atomics are compiler intrinsics, not calls). It can only be stopped by
// asynchronous preemption.
func wSpin() {
	spinStarted.Add(1)
	var x int64
	for {
		x++
		if x&0xffffff == 0 {
			spinSink.Store(x)
		}
	}
}

func wLabeled() { <-never }

// wDeep recurses deepRecDepth frames (via deepRec, whose name deliberately
// does not start with "w") and then blocks.
func wDeep() { deepRec(deepRecDepth) }

func deepRec(n int) int {
	if n == 0 {
		<-never
		return 0
	}
	return deepRec(n-1) + 1 // not a tail call: every level keeps its frame
}

// wParent starts wChild, so the child's "created by" line reads
// "created by main.wParent in goroutine N".
func wParent() {
	go wChild()
	<-never
}

func wChild() { <-never }

// wGeneric prints as main.wGeneric[...] in a stack trace.
func wGeneric[T any](c chan T) { <-c }

// ---------------------------------------------------------------------------
// Starting and settling
// ---------------------------------------------------------------------------

func startN(n int, f func()) {
	for i := 0; i < n; i++ {
		go f()
	}
}

// startWorkload starts all goroutines. Kinds whose state depends on ordering
// (mutex waiters need a holder, RLock readers need a pending writer, queued fd
// readers need a reader already parked) are started in phases, each phase
// waiting until the previous one has verifiably settled.
func startWorkload(deadline time.Time) error {
	// One GC cycle up front creates the background mark workers, so a
	// GOTRACEBACK=system crash dump also shows "GC worker (idle)" runtime
	// goroutines (block class gc_runtime; they belong to no kind).
	runtime.GC()

	startN(nChanRecv, wChanRecv)
	startN(nChanSend, wChanSend)
	startN(nSelect, wSelect)
	startN(nSelectNoCases, wSelectNoCases)
	startN(nNilRecv, wNilRecv)
	startN(nNilSend, wNilSend)
	wgNeverDone.Add(1) // never Done
	startN(nWaitGroup, wWaitGroup)
	startN(nCond, wCond)
	startN(nSleep, wSleep)
	startN(nLocked, wLocked)
	startN(nDeep, wDeep)
	startN(nParent, wParent)
	for i := 0; i < nGeneric; i++ {
		go wGeneric[int](make(chan int))
	}

	// Labeled goroutines inherit the labels of the goroutine that creates
	// them, so create them inside pprof.Do.
	for i := 0; i < nLabeled; i++ {
		ls := labelSet(i)
		pprof.Do(context.Background(),
			pprof.Labels("trace_id", ls["trace_id"], "span_id", ls["span_id"]),
			func(context.Context) { go wLabeled() })
	}

	// Raw syscalls: one pipe per goroutine; write ends kept open (and never
	// written) so read(2) neither returns data nor EOF.
	for i := 0; i < nSyscall; i++ {
		var p [2]int
		if err := syscall.Pipe(p[:]); err != nil {
			return fmt.Errorf("pipe: %w", err)
		}
		pipeWriters = append(pipeWriters, p[1])
		go wSyscall(p[0])
	}

	// Mutex: holder first, then the waiters.
	held := make(chan struct{})
	go wMutexHolder(held)
	<-held
	startN(nMutex, wMutex)

	// RWMutex: reader holds, then exactly one writer goes pending; only once
	// it is verifiably parked do readers and extra writers arrive.
	rheld := make(chan struct{})
	go wRWReadHolder(rheld)
	<-rheld
	startN(nRWLock, wRWLock)
	if err := settleKinds(deadline, "main.wRWLock"); err != nil {
		return err
	}
	startN(nRWRLock, wRWRLock)
	startN(nRWLockQueued, wRWLockQueued)

	// TCP: a listener nobody dials (accept side), and nIOWait connected
	// pairs whose server side never writes.
	lnIdle, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	keepLns = append(keepLns, lnIdle)
	go wIOAccept(lnIdle)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var clients []net.Conn
	for i := 0; i < nIOWait; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		s, err := ln.Accept()
		if err != nil {
			return err
		}
		keepConns = append(keepConns, c, s)
		clients = append(clients, c)
		go wIOWait(c)
	}
	ln.Close() // no goroutine is waiting on it; keeps the dump to the workload
	if err := settleKinds(deadline, "main.wIOWait"); err != nil {
		return err
	}
	// Now clients[0] has a reader parked in IO wait holding the fd read lock.
	for i := 0; i < nFdReadQueued; i++ {
		go wFdReadQueued(clients[0])
	}

	// Spinners last: with few CPUs they hog the Ps and slow everything else.
	startN(nSpin, wSpin)
	for spinStarted.Load() < nSpin {
		if time.Now().After(deadline) {
			return fmt.Errorf("spinners did not start")
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// gInfo is what settle needs from one goroutine of a runtime.Stack dump.
type gInfo struct {
	header string
	state  string // running, runnable, syscall, waiting, preempted, or other raw status
	reason string // wait reason if state == waiting
	locked bool
	kind   string // deepest main.w* frame of the goroutine's own stack, or ""
}

// parseDump is a deliberately small parser of runtime.Stack output, used
// only to decide when the workload has settled (it is not the parser under
// test). It tolerates the gp=/m= header form (GOTRACEBACK=system), labels
// (GODEBUG=tracebacklabels=1, in the Go 1.26 and the Go 1.27 form) and
// ancestor sections (GODEBUG=tracebackancestors=N).
func parseDump(dump string) []gInfo {
	var out []gInfo
	for _, block := range strings.Split(dump, "\n\n") {
		lines := strings.Split(strings.TrimSpace(block), "\n")
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "goroutine ") {
			continue
		}
		g := gInfo{header: lines[0]}
		h := lines[0]
		if i := strings.Index(h, " ["); i >= 0 {
			h = h[i+2:]
		}
		// Labels: Go 1.26 "[status labels:{...}]:", Go 1.27 "[status] {...}:".
		for _, end := range []string{"]", " labels:{"} {
			h, _, _ = strings.Cut(h, end)
		}
		parts := strings.Split(h, ", ")
		status := strings.TrimSuffix(parts[0], " (scan)")
		for _, p := range parts[1:] {
			if p == "locked to thread" {
				g.locked = true
			}
		}
		switch status {
		case "running", "runnable", "syscall", "preempted":
			g.state = status
		default:
			g.state, g.reason = "waiting", status
		}
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, "[originating from") {
				break // ancestors are not this goroutine's frames
			}
			if strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "created by ") || strings.HasPrefix(l, "...") {
				continue
			}
			fn := l
			if i := strings.LastIndex(fn, "("); i > 0 {
				fn = fn[:i]
			}
			if strings.HasPrefix(fn, "main.w") {
				g.kind = fn // keep overwriting: the last one is the deepest
			}
		}
		out = append(out, g)
	}
	return out
}

func (g gInfo) matches(s kindSpec) bool {
	ok := false
	for _, st := range s.States {
		ok = ok || st == g.state
	}
	if !ok || g.locked != s.Locked {
		return false
	}
	return g.state != "waiting" || g.reason == s.WaitReason
}

var stackBuf = make([]byte, 1<<16)

// allStacks returns runtime.Stack(buf, true), growing buf until it fits.
func allStacks() []byte {
	for {
		n := runtime.Stack(stackBuf, true)
		if n < len(stackBuf) {
			return stackBuf[:n]
		}
		stackBuf = make([]byte, 2*len(stackBuf))
	}
}

// checkKinds compares a dump with the manifest for the given kinds (all kinds
// if none given) and describes the differences; "" means settled.
func checkKinds(dump string, only ...string) string {
	m := buildManifest()
	good := map[string]int{}
	bad := map[string][]string{}
	for _, g := range parseDump(dump) {
		if g.kind == "" {
			continue
		}
		spec, ok := m.Kinds[g.kind]
		if !ok {
			bad[g.kind] = append(bad[g.kind], "unknown kind: "+g.header)
			continue
		}
		if g.matches(spec) {
			good[g.kind]++
		} else {
			bad[g.kind] = append(bad[g.kind], g.header)
		}
	}
	names := only
	if len(names) == 0 {
		for k := range m.Kinds {
			names = append(names, k)
		}
		for k := range bad {
			if _, ok := m.Kinds[k]; !ok {
				names = append(names, k)
			}
		}
		sort.Strings(names)
	}
	var diffs []string
	for _, k := range names {
		if good[k] != m.Kinds[k].Count || len(bad[k]) > 0 {
			diffs = append(diffs, fmt.Sprintf("%s: %d ok, want %d; not matching: %q",
				k, good[k], m.Kinds[k].Count, bad[k]))
		}
	}
	return strings.Join(diffs, "\n")
}

// settleKinds polls runtime.Stack until the given kinds (all if none) match
// the manifest or the deadline passes.
func settleKinds(deadline time.Time, only ...string) error {
	for {
		diff := checkKinds(string(allStacks()), only...)
		if diff == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("workload did not settle:\n%s", diff)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

func usage() {
	fmt.Fprintf(os.Stderr, `usage: goprog [-expect FILE] [-timeout D] (-out FILE | -serve ADDR | -crash | -check FILE)

Starts a fixed goroutine workload, waits for it to settle, then:
  -out FILE     writes runtime.Stack(all) to FILE and exits 0
  -serve ADDR   serves net/http/pprof (/debug/pprof/goroutine?debug=2) and the
                manifest (/expected) on ADDR, prints "listening on http://HOST:PORT"
                and runs until killed or stdin reaches EOF
  -auth TOKEN   with -serve: answer 401 unless "Authorization: Bearer TOKEN"
  -tls-cert FILE  with -serve: https, with a certificate from a throwaway
                CA whose certificate is written (PEM) to FILE
  -crash        panics; run with GOTRACEBACK=system for a full crash dump
  -check FILE   (no workload) verifies a dump produced by one of the above
                against the manifest, using this program's own small parser;
                exits 1 and lists the differences if it does not match
  -expect FILE  writes the manifest JSON to FILE (may be combined; alone, it
                just writes the manifest without starting the workload)

`)
	flag.PrintDefaults()
}

func main() {
	out := flag.String("out", "", "write the settled goroutine dump to `FILE`")
	expect := flag.String("expect", "", "write the manifest JSON to `FILE`")
	serve := flag.String("serve", "", "serve pprof and /expected on `ADDR` (e.g. 127.0.0.1:0)")
	crash := flag.Bool("crash", false, "panic after settling")
	auth := flag.String("auth", "", "with -serve: require `TOKEN` as a bearer token on every request")
	tlsCert := flag.String("tls-cert", "", "with -serve: serve https with a certificate from a throwaway CA, whose certificate is written (PEM) to `FILE`")
	check := flag.String("check", "", "verify the dump in `FILE` against the manifest and exit (no workload)")
	timeout := flag.Duration("timeout", 30*time.Second, "give up if the workload has not settled after this long")
	flag.Usage = usage
	flag.Parse()

	modes := 0
	for _, on := range []bool{*out != "", *serve != "", *crash, *check != ""} {
		if on {
			modes++
		}
	}
	if flag.NArg() != 0 || modes > 1 || (modes == 0 && *expect == "") {
		usage()
		os.Exit(2)
	}

	manifestJSON, err := json.MarshalIndent(buildManifest(), "", "  ")
	if err != nil {
		fatal(err)
	}
	manifestJSON = append(manifestJSON, '\n')
	if *expect != "" {
		if err := os.WriteFile(*expect, manifestJSON, 0o644); err != nil {
			fatal(err)
		}
	}
	if modes == 0 {
		return
	}
	if *check != "" {
		d, err := os.ReadFile(*check)
		if err != nil {
			fatal(err)
		}
		if diff := checkKinds(string(d)); diff != "" {
			fatal(fmt.Errorf("%s does not match the manifest:\n%s", *check, diff))
		}
		return
	}

	deadline := time.Now().Add(*timeout)
	if err := startWorkload(deadline); err != nil {
		fatal(err)
	}
	if err := settleKinds(deadline); err != nil {
		fatal(err)
	}

	switch {
	case *out != "":
		// Dump once more and re-check that very dump, so the file written
		// is known to match the manifest (spinners may move between states).
		for {
			d := allStacks()
			diff := checkKinds(string(d))
			if diff == "" {
				if err := os.WriteFile(*out, d, 0o644); err != nil {
					fatal(err)
				}
				return
			}
			if time.Now().After(deadline) {
				fatal(fmt.Errorf("final dump does not match manifest:\n%s", diff))
			}
		}

	case *serve != "":
		ln, err := net.Listen("tcp", *serve)
		if err != nil {
			fatal(err)
		}
		http.HandleFunc("/expected", func(rw http.ResponseWriter, _ *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			rw.Write(manifestJSON)
		})
		var handler http.Handler = http.DefaultServeMux
		if *auth != "" {
			// A protected pprof endpoint, as many services run them.
			handler = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer "+*auth {
					http.Error(rw, "unauthorized", http.StatusUnauthorized)
					return
				}
				http.DefaultServeMux.ServeHTTP(rw, r)
			})
		}
		scheme := "http"
		if *tlsCert != "" {
			// https with a fresh self-signed certificate for 127.0.0.1,
			// written to the -tls-cert file for the client to trust.
			cfg, err := selfSigned(*tlsCert)
			if err != nil {
				fatal(err)
			}
			ln = tls.NewListener(ln, cfg)
			scheme = "https"
		}
		go http.Serve(ln, handler)
		fmt.Printf("listening on %s://%s\n", scheme, ln.Addr())
		// Exit when our parent closes stdin (or dies), so a crashed test
		// harness doesn't leave us running. Note: started with stdin at
		// /dev/null, this exits immediately.
		io.Copy(io.Discard, os.Stdin)

	case *crash:
		panic("goroscope test crash")
	}
}

// selfSigned makes a throwaway CA and a certificate for 127.0.0.1 signed
// by it (both valid for a day), writes the CA certificate as PEM to
// certFile for the client to trust, and returns the TLS configuration
// serving the leaf. (Verifiers reject a CA certificate used directly by a
// server, so a lone self-signed certificate would not do.)
func selfSigned(certFile string) (*tls.Config, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "goprog test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(certFile, pemBytes, 0o644); err != nil {
		return nil, err
	}
	chain := tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{chain}}, nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "goprog:", err)
	os.Exit(1)
}
