// Command demo is the Go service goroscope's demo and end-to-end tests
// watch: a small stdlib-only HTTP service with the goroutine mix of a real
// one, serving net/http/pprof.
//
//   - a worker pool (main.poolWorker) waiting for jobs on a channel;
//   - a load generator calling the service's own /work endpoint, whose
//     handler runs under pprof labels (trace_id, span_id), takes a
//     contended mutex, sleeps and selects on a timer;
//   - idle keep-alive client connections (server goroutines in IO wait);
//   - goroutines parked on a sync.Cond and on a sync.WaitGroup;
//   - leaks (-sites, one goroutine per site every -leak-every): a send
//     nobody reads (main.leakyHandler.func1, the default), a receive
//     nobody sends to (main.leakRecv.func1), a select on a context nobody
//     cancels (main.leakSelect.func1), a mutex held forever
//     (main.leakMutex.func1), a WaitGroup never done
//     (main.leakWaitGroup.func1), and a slow leak on its own clock
//     (main.slowLeak.func1, -slow-every);
//   - known non-leaks: besides the pool, handlers and idle connections, a
//     cache refresher loop and, with -bursts, bursts of 30 short jobs;
//   - -park N: N more goroutines parked on a channel, for cost benchmarks;
//   - -distinct N: N goroutines on N distinct stacks with random label
//     values, the adversarial target of the cardinality test.
//
// GET /demo/expected answers the exact size of the fixed groups as JSON,
// so tests can compare what goroscope reports with what was created;
// GET /demo/pauses the runtime's /sched/pauses/total/other:seconds
// histogram (Go 1.26), the stops a scraper causes.
// The program exits when its stdin reaches EOF if -exit-on-eof is set
// (tests hold a pipe), else on SIGINT/SIGTERM.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The fixed groups; /demo/expected reports them.
const (
	poolWorkers = 8
	condWaiters = 3
	wgWaiters   = 2
	idleConns   = 4
)

var (
	jobs     = make(chan int)
	leaked   atomic.Int64
	shared   sync.Mutex
	cond     = sync.NewCond(&sync.Mutex{})
	never    sync.WaitGroup
	distinct atomic.Int64
)

func poolWorker(id int) {
	for j := range jobs {
		_ = j * id
	}
}

func condWaiter() {
	cond.L.Lock()
	for {
		cond.Wait()
	}
}

func wgWaiter() { never.Wait() }

func randomHex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.UintN(256))
	}
	return hex.EncodeToString(b)
}

// work is the service's endpoint: labelled like a traced request.
func work(w http.ResponseWriter, r *http.Request) {
	labels := pprof.Labels("trace_id", randomHex(16), "span_id", randomHex(8), "handler", "work")
	pprof.Do(r.Context(), labels, func(ctx context.Context) {
		shared.Lock()
		time.Sleep(time.Millisecond)
		shared.Unlock()
		select {
		case <-time.After(time.Duration(rand.IntN(20)) * time.Millisecond):
		case <-ctx.Done():
		}
		jobs <- 1
		io.WriteString(w, "ok\n")
	})
}

// leakyHandler forgets its result channel: the goroutine it starts blocks
// forever on the send.
func leakyHandler() {
	result := make(chan int)
	go func() {
		result <- 42
	}()
	leaked.Add(1)
}

// The other known leak sites (-sites), each a goroutine blocked forever.

// leakRecv waits for a reply nobody will send.
func leakRecv() {
	reply := make(chan int)
	go func() {
		<-reply
	}()
	leaked.Add(1)
}

// leakSelect waits on a context nobody cancels (the cancel func dropped).
func leakSelect() {
	ctx, cancel := context.WithCancel(context.Background())
	_ = cancel // the leak under test: never called
	updates := make(chan int)
	go func() {
		select {
		case <-ctx.Done():
		case <-updates:
		}
	}()
	leaked.Add(1)
}

// heldForever is locked at start and never unlocked.
var heldForever sync.Mutex

// leakMutex queues goroutines behind a lock that is never released.
func leakMutex() {
	go func() {
		heldForever.Lock()
	}()
	leaked.Add(1)
}

// neverDone has a count no one brings to zero.
var neverDone sync.WaitGroup

// leakWaitGroup waits on a WaitGroup never done.
func leakWaitGroup() {
	go func() {
		neverDone.Wait()
	}()
	leaked.Add(1)
}

// slowLeak leaks on its own, slower clock (-slow-every).
func slowLeak() {
	never := make(chan struct{})
	go func() {
		<-never
	}()
	leaked.Add(1)
}

// Known non-leaks besides the pool, the handlers and idle connections.

// burstWorker is one of a burst of short jobs that all finish.
func burstWorker(d time.Duration) { time.Sleep(d) }

// cacheRefresher is a long-lived loop: one goroutine, forever, by design.
func cacheRefresher(every time.Duration) {
	tick := time.NewTicker(every)
	for range tick.C {
		shared.Lock()
		shared.Unlock()
	}
}

// leakSites are the leak sites -sites can switch on.
var leakSites = map[string]func(){
	"chansend":  leakyHandler,
	"chanrecv":  leakRecv,
	"selectctx": leakSelect,
	"mutex":     leakMutex,
	"waitgroup": leakWaitGroup,
	"slow":      slowLeak,
}

// parseSites reads -sites.
func parseSites(list string) ([]string, error) {
	var enabled []string
	for _, name := range strings.Split(list, ",") {
		switch name = strings.TrimSpace(name); name {
		case "", "none":
		case "all":
			enabled = append(enabled, "chansend", "chanrecv", "selectctx", "mutex", "waitgroup", "slow")
		default:
			if leakSites[name] == nil {
				return nil, fmt.Errorf("unknown leak site %q", name)
			}
			enabled = append(enabled, name)
		}
	}
	return enabled, nil
}

// distinctStack parks on a stack given by the bits of i (depth levels of
// two functions), under random label values.
func distinctStack(i, depth int, ready *sync.WaitGroup) {
	if depth == 0 {
		labels := pprof.Labels("tenant", randomHex(8), "trace_id", randomHex(16))
		pprof.Do(context.Background(), labels, func(context.Context) {
			distinct.Add(1)
			ready.Done()
			select {}
		})
		return
	}
	if i&1 == 0 {
		branchA(i>>1, depth-1, ready)
	} else {
		branchB(i>>1, depth-1, ready)
	}
}

func branchA(i, depth int, ready *sync.WaitGroup) { distinctStack(i, depth, ready) }
func branchB(i, depth int, ready *sync.WaitGroup) { distinctStack(i, depth, ready) }

func main() {
	addr := flag.String("addr", "127.0.0.1:6060", "listen `ADDR` (host:port; port 0 picks one)")
	leakEvery := flag.Duration("leak-every", time.Second, "start one leaked goroutine per leak site this often (0: never)")
	sites := flag.String("sites", "chansend", "leak sites: a comma list of chansend, chanrecv, selectctx, mutex, waitgroup, slow; all; or none")
	slowEvery := flag.Duration("slow-every", time.Minute, "the slow leak site's period")
	bursts := flag.Duration("bursts", 0, "every this often, 30 short jobs that finish (0: none)")
	rps := flag.Int("rps", 50, "requests per second of the built-in load")
	park := flag.Int("park", 0, "park `N` more goroutines on a channel")
	distinctN := flag.Int("distinct", 0, "park `N` goroutines on N distinct stacks with random labels")
	exitOnEOF := flag.Bool("exit-on-eof", false, "exit when stdin reaches EOF")
	flag.Parse()
	enabled, err := parseSites(*sites)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}

	for i := 0; i < poolWorkers; i++ {
		go poolWorker(i)
	}
	for i := 0; i < condWaiters; i++ {
		go condWaiter()
	}
	never.Add(1)
	for i := 0; i < wgWaiters; i++ {
		go wgWaiter()
	}
	parked := make(chan struct{})
	for i := 0; i < *park; i++ {
		go func() { <-parked }()
	}
	if *distinctN > 0 {
		depth := 1
		for 1<<depth < *distinctN {
			depth++
		}
		var ready sync.WaitGroup
		ready.Add(*distinctN)
		for i := 0; i < *distinctN; i++ {
			go distinctStack(i, depth, &ready)
		}
		ready.Wait()
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	http.HandleFunc("/work", work)
	http.HandleFunc("/demo/expected", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]int64{
			"main.poolWorker": poolWorkers,
			"main.condWaiter": condWaiters,
			"main.wgWaiter":   wgWaiters,
			"parked":          int64(*park),
			"distinct":        distinct.Load(),
			"leaked":          leaked.Load(),
			"sites":           int64(len(enabled)),
		})
	})
	// The stop-the-world pauses other than GC's (goroutine profiles and
	// dumps among them) as a histogram: what a scraper costs this process.
	http.HandleFunc("/demo/pauses", func(w http.ResponseWriter, r *http.Request) {
		s := []metrics.Sample{{Name: "/sched/pauses/total/other:seconds"}}
		metrics.Read(s)
		h := s[0].Value.Float64Histogram()
		bounds := make([]float64, len(h.Buckets))
		for i, b := range h.Buckets {
			// JSON has no infinities.
			bounds[i] = max(-1e300, min(b, 1e300))
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"buckets": bounds, "counts": h.Counts})
	})
	go http.Serve(ln, nil)
	base := "http://" + ln.Addr().String()

	// Idle keep-alive connections: each server side waits in IO wait.
	for i := 0; i < idleConns; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			fmt.Fprintf(c, "GET /demo/expected HTTP/1.1\r\nHost: demo\r\n\r\n")
			defer c.Close()
		}
	}
	if *rps > 0 {
		go func() {
			client := &http.Client{Timeout: 5 * time.Second}
			tick := time.NewTicker(time.Second / time.Duration(*rps))
			for range tick.C {
				go func() {
					resp, err := client.Get(base + "/work")
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}()
			}
		}()
	}
	heldForever.Lock()
	neverDone.Add(1)
	for _, name := range enabled {
		site, every := leakSites[name], *leakEvery
		if name == "slow" {
			every = *slowEvery
		}
		if every > 0 {
			go func() {
				for range time.Tick(every) {
					site()
				}
			}()
		}
	}
	go cacheRefresher(500 * time.Millisecond)
	if *bursts > 0 {
		go func() {
			for range time.Tick(*bursts) {
				for i := 0; i < 30; i++ {
					go burstWorker(300 * time.Millisecond)
				}
			}
		}()
	}
	fmt.Printf("listening on %s\n", base)

	done := make(chan struct{})
	if *exitOnEOF {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			close(done)
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-sig:
	case <-done:
	}
}
