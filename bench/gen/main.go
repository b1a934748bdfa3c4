// Command gen spawns a large number of goroutines in a realistic mix of
// states and stack shapes, then writes a single runtime.Stack(buf, true)
// dump of all of them to a file. It is the input generator for the goroscope
// parser benchmark (see ../README.md).
//
// Goroutine tree: main -> supervisors -> pools -> workers (-> a few watcher
// grandchildren), plus a few special goroutines (IO wait, syscall, locked to
// thread, runnable spinner).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"goroscope.bench/gen/internal/block"
	"goroscope.bench/gen/internal/rpc"
	"goroscope.bench/gen/internal/server"
	"goroscope.bench/gen/internal/storage"
	"goroscope.bench/gen/internal/worker"
)

var (
	nFlag       = flag.Int("n", 500000, "total number of goroutines in the dump (approximately; exact unless very small)")
	outFlag     = flag.String("out", "dump.txt", "output file for the goroutine dump")
	labelsFlag  = flag.Bool("labels", true, "print pprof labels in goroutine headers (sets GODEBUG=tracebacklabels=1, Go 1.26+)")
	labelKeys   = flag.Int("labelkeys", 1, "labels per labeled goroutine (1-3); note gostackparse rejects headers with more than one label")
	supervisors = flag.Int("supervisors", 16, "number of supervisor goroutines (children of main)")
	poolsFlag   = flag.Int("pools", 256, "number of pool goroutines (children of supervisors); workers are their children")
	ioFlag      = flag.Int("io", 1000, "number of loopback TCP connections; each adds two goroutines in IO wait")
	syscallFlag = flag.Int("syscall", 4, "goroutines blocked in a raw read(2) on a pipe (state syscall)")
	lockedFlag  = flag.Int("locked", 8, "goroutines that lock their OS thread and then block")
	spinFlag    = flag.Int("spin", 1, "busy goroutines, started right before the dump")
	childEvery  = flag.Int("childevery", 25, "every k-th worker spawns a watcher grandchild (0 = never)")
	settleFlag  = flag.Duration("settle", 2*time.Second, "wait after all goroutines reported ready, before the dump")
	seedFlag    = flag.Uint64("seed", 1, "random seed for the shape mix")
	skewFlag    = flag.Float64("skew", depthExp, "shape weight is depth^-skew; larger means shallower stacks and a smaller dump")
)

const (
	numFamilies = 6                                 // server, storage, worker, rpc, closure, labeled
	numShapes   = numFamilies * int(block.NumKinds) // 60
	fixedFrames = 3                                 // park leaf + Park + entry frames around the recursion
	depthExp    = 2.5
)

type shape struct {
	family int
	kind   block.Kind
	depth  int // approximate total frames
	weight float64
}

// kindShare is the share of workers parked in each way, roughly as seen in
// production dumps of RPC servers.
var kindShare = [block.NumKinds]float64{
	block.ChanRecv:      30,
	block.ChanSend:      8,
	block.Select:        25,
	block.Mutex:         8,
	block.WaitGroup:     5,
	block.Cond:          7,
	block.Sleep:         5,
	block.RWMutexR:      5,
	block.NilChanRecv:   1,
	block.SelectNoCases: 1,
}

// depthLevels are the base depths of a kind's six shapes; each kind gets
// one shape per level (rotated across families), plus a small offset, so
// depths range from 3 to 39 frames.
var depthLevels = [numFamilies]int{3, 5, 8, 13, 22, 36}

// shapes returns the 60 worker stack shapes: every family (which recursion
// helpers build the stack) crossed with every block kind, each with its own
// depth. A shape's weight is its kind's share, split among the kind's shapes in proportion to depth^-skew.
func shapes() []shape {
	s := make([]shape, numShapes)
	var perKind [block.NumKinds]float64
	for i := range s {
		f, k := i/int(block.NumKinds), block.Kind(i%int(block.NumKinds))
		d := depthLevels[(f+int(k))%numFamilies] + int(k)%4
		w := 1 / math.Pow(float64(d), *skewFlag)
		perKind[k] += w
		s[i] = shape{family: f, kind: k, depth: d, weight: w}
	}
	for i := range s {
		s[i].weight *= kindShare[s[i].kind] / perKind[s[i].kind]
	}
	return s
}

var labelValues = [][]string{
	{"handler", "/api/v1/orders", "/api/v1/users", "/healthz", "/metrics", "/api/v2/search"},
	{"tenant", "acme", "globex", "initech", "umbrella"},
	{"op", "read", "write", "compact"},
}

func labelsFor(t *block.Task) pprof.LabelSet {
	k := min(max(*labelKeys, 1), len(labelValues))
	kv := make([]string, 0, 2*k)
	for i := 0; i < k; i++ {
		vals := labelValues[i][1:]
		kv = append(kv, labelValues[i][0], vals[(t.Shard+i)%len(vals)])
	}
	return pprof.Labels(kv...)
}

// runClosure builds a stack of self-recursive closure frames.
//
//go:noinline
func runClosure(env *block.Env, t *block.Task) {
	var rec func(n int)
	rec = func(n int) {
		if n <= 0 {
			env.Park(t)
			return
		}
		rec(n - 1)
	}
	rec(t.Depth)
}

//go:noinline
func spawnClosureWorkers(env *block.Env, tasks []*block.Task) {
	for _, t := range tasks {
		env.Ready.Add(1)
		go func() {
			runClosure(env, t)
		}()
	}
}

var inner = []func(*block.Env, *block.Task){server.Serve, storage.Compact, worker.Run, rpc.Recv, runClosure}

//go:noinline
func runLabeled(env *block.Env, t *block.Task) {
	pprof.Do(context.Background(), labelsFor(t), func(context.Context) {
		inner[t.Shape%len(inner)](env, t)
	})
}

//go:noinline
func spawnLabeled(env *block.Env, tasks []*block.Task) {
	for _, t := range tasks {
		env.Ready.Add(1)
		go runLabeled(env, t)
	}
}

var starters = [numFamilies]func(*block.Env, []*block.Task){
	server.Start, storage.StartCompactions, worker.StartPool, rpc.StartClients, spawnClosureWorkers, spawnLabeled,
}

// runPool spawns its workers family by family, then parks.
//
//go:noinline
func runPool(env *block.Env, id int, tasks []*block.Task, shp []shape) {
	var byFam [numFamilies][]*block.Task
	for _, t := range tasks {
		f := shp[t.Shape].family
		byFam[f] = append(byFam[f], t)
	}
	for f, ts := range byFam {
		if len(ts) > 0 {
			starters[f](env, ts)
		}
	}
	env.Park(&block.Task{Kind: block.WaitGroup, Shard: id})
}

// supervise spawns its pools, then parks.
//
//go:noinline
func supervise(env *block.Env, id int, pools map[int][]*block.Task, shp []shape) {
	for pid, ts := range pools {
		env.Ready.Add(1)
		go runPool(env, pid, ts, shp)
	}
	env.Park(&block.Task{Kind: block.Select, Shard: id})
}

// startIO opens up to conns loopback TCP connections; a reader goroutine on
// each end blocks in Read (IO wait), and the acceptor blocks in Accept. It
// returns the number of connections it managed to open (the file descriptor
// limit may stop it early).
func startIO(env *block.Env, conns int) (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	accepted := make(chan struct{}, conns)
	go acceptLoop(env, ln, accepted)
	n := 0
	for ; n < conns; n++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			err = fmt.Errorf("after %d connections: %w", n, err)
			for range n {
				<-accepted
			}
			return n, err
		}
		env.Ready.Add(1)
		go readResponses(env, c)
	}
	for range n {
		<-accepted
	}
	return n, nil
}

//go:noinline
func acceptLoop(env *block.Env, ln net.Listener, accepted chan<- struct{}) {
	for {
		c, err := ln.Accept() // the last call blocks forever: IO wait
		if err != nil {
			panic(err)
		}
		env.Ready.Add(1)
		go readRequests(env, c)
		accepted <- struct{}{}
	}
}

//go:noinline
func readRequests(env *block.Env, c net.Conn) {
	buf := make([]byte, 512)
	env.Ready.Done()
	c.Read(buf)
}

//go:noinline
func readResponses(env *block.Env, c net.Conn) {
	buf := make([]byte, 512)
	env.Ready.Done()
	c.Read(buf)
}

//go:noinline
func lockedWorker(env *block.Env, id int) {
	runtime.LockOSThread()
	env.Park(&block.Task{Kind: block.ChanRecv, Shard: id})
}

var spinSink uint64

//go:noinline
func spin() {
	x := uint64(1)
	for {
		x = x*6364136223846793005 + 1442695040888963407
		if x == 0 {
			spinSink = x
		}
	}
}

func main() {
	flag.Parse()
	if *labelsFlag {
		g := os.Getenv("GODEBUG")
		if g != "" {
			g += ","
		}
		os.Setenv("GODEBUG", g+"tracebacklabels=1")
	}
	start := time.Now()

	// Each connection costs two file descriptors; leave room for the rest.
	if budget := (fdLimit() - 2**syscallFlag - 64) / 2; *ioFlag > budget {
		fmt.Fprintf(os.Stderr, "gen: warning: open-file limit allows only %d of %d TCP connections\n", max(budget, 0), *ioFlag)
		*ioFlag = max(budget, 0)
	}
	ioG := 0
	if *ioFlag > 0 {
		ioG = 2**ioFlag + 1
	}
	overhead := 1 + *supervisors + *poolsFlag + ioG + *syscallFlag + *lockedFlag + *spinFlag
	remaining := *nFlag - overhead
	if remaining < 0 {
		remaining = 0
	}

	shp := shapes()
	var total float64
	for _, s := range shp {
		total += s.weight
	}
	rng := rand.New(rand.NewPCG(*seedFlag, 0x9e3779b97f4a7c15))
	pick := func() int {
		r := rng.Float64() * total
		for i, s := range shp {
			r -= s.weight
			if r < 0 {
				return i
			}
		}
		return len(shp) - 1
	}

	// Plan the workers, and hand them out round-robin to pools, and the
	// pools round-robin to supervisors.
	P := max(*poolsFlag, 1)
	S := max(*supervisors, 1)
	poolTasks := make([][]*block.Task, P)
	used := 0
	for i := 0; used < remaining; i++ {
		si := pick()
		s := shp[si]
		t := &block.Task{Shape: si, Depth: max(0, s.depth-fixedFrames), Kind: s.kind, Shard: i}
		used++
		if *childEvery > 0 && i%*childEvery == *childEvery-1 && used < remaining {
			t.Child = true
			used++
		}
		poolTasks[i%P] = append(poolTasks[i%P], t)
	}
	bySup := make([]map[int][]*block.Task, S)
	for i := range bySup {
		bySup[i] = map[int][]*block.Task{}
	}
	for p, ts := range poolTasks {
		bySup[p%S][p] = ts
	}

	env := block.NewEnv(64)
	for id := 0; id < S; id++ {
		env.Ready.Add(1)
		go supervise(env, id, bySup[id], shp)
	}
	if *ioFlag > 0 {
		if n, err := startIO(env, *ioFlag); err != nil {
			fmt.Fprintf(os.Stderr, "gen: warning: only %d of %d TCP connections (%v); the dump will have %d fewer goroutines\n",
				n, *ioFlag, err, 2*(*ioFlag-n))
		}
	}
	startSyscallers(env, *syscallFlag)
	for i := 0; i < *lockedFlag; i++ {
		env.Ready.Add(1)
		go lockedWorker(env, i)
	}
	env.Ready.Wait()
	time.Sleep(*settleFlag)
	for i := 0; i < *spinFlag; i++ {
		go spin()
	}
	time.Sleep(50 * time.Millisecond)
	spawned := time.Since(start)
	ng := runtime.NumGoroutine()

	t0 := time.Now()
	size := *nFlag*2048 + 1<<20
	var buf []byte
	var k int
	for {
		buf = make([]byte, size)
		k = runtime.Stack(buf, true)
		if k < len(buf) {
			break
		}
		size *= 2
	}
	buf = buf[:k]
	dumped := time.Since(t0)

	t1 := time.Now()
	if err := os.WriteFile(*outFlag, buf, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	written := time.Since(t1)

	count := bytes.Count(buf, []byte("\n\ngoroutine "))
	if bytes.HasPrefix(buf, []byte("goroutine ")) {
		count++
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(os.Stderr,
		"gen: %d goroutines (NumGoroutine %d), %d bytes (%.1f MiB, %.0f B/goroutine) -> %s\n"+
			"gen: spawn+settle %.2fs, runtime.Stack %.2fs, write %.2fs, total %.2fs; Sys %.0f MiB; labels=%v (%s)\n",
		count, ng, k, float64(k)/(1<<20), float64(k)/float64(max(count, 1)), *outFlag,
		spawned.Seconds(), dumped.Seconds(), written.Seconds(), time.Since(start).Seconds(),
		float64(ms.Sys)/(1<<20), *labelsFlag, strings.TrimSpace(os.Getenv("GODEBUG")))
	os.Exit(0)
}
