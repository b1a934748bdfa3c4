// Command gen runs a mixed workload for a fixed duration while recording a
// Go execution trace (runtime/trace) to a file. Standard library only.
//
// Usage:
//
//	gen -o out.trace [-d 2s] [-goroutines 8] [-cpu 2] [-pingpong 1] [-burst 64] [-seed 1]
//
// -goroutines scales every worker pool (default 8); -cpu sets the number of
// CPU-bound goroutines (default 2); -pingpong/-burst control the densest
// event source (goroutine pairs bouncing a token over unbuffered channels,
// sleeping 1ms every -burst exchanges; -burst 0 = unpaced: several MB/s of trace).
// For a big (>100 MB) trace use e.g. -d 30s -goroutines 64 -pingpong 4 -burst 0.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"time"
)

var (
	outPath  = flag.String("o", "out.trace", "output trace file")
	duration = flag.Duration("d", 2*time.Second, "workload duration")
	scale    = flag.Int("goroutines", 8, "size of each worker pool (scales the trace size)")
	nCPUGs   = flag.Int("cpu", 2, "number of CPU-bound goroutines (not scaled by -goroutines)")
	nPairs   = flag.Int("pingpong", 1, "number of ping-pong goroutine pairs (the densest event source)")
	burst    = flag.Int("burst", 64, "ping-pong exchanges between 1ms sleeps; 0 = never sleep (huge traces)")
	seed     = flag.Int64("seed", 1, "random seed for workload decisions")
)

// counters, printed at the end so the workload cannot be optimised away.
var (
	nChan, nSelect, nMutex, nCond, nWG, nSleep, nNet, nFile, nCPU, nSpawn, nPing atomic.Int64
	sink                                                                         atomic.Uint64
)

func main() {
	log.SetFlags(0)
	flag.Parse()
	if *scale < 1 {
		*scale = 1
	}

	f, err := os.Create(*outPath)
	if err != nil {
		log.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := trace.Start(bw); err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()

	var all sync.WaitGroup
	run := func(name string, fn func(ctx context.Context)) {
		all.Add(1)
		go func() {
			defer all.Done()
			// A user task/region per worker gives the trace some user annotations too.
			tctx, task := trace.NewTask(ctx, name)
			defer task.End()
			trace.WithRegion(tctx, name, func() { fn(tctx) })
		}()
	}

	n := *scale
	for i := 0; i < n; i++ {
		run("chanpipe", func(ctx context.Context) { chanPipeline(ctx, i) })
		run("select", func(ctx context.Context) { selectLoop(ctx, i) })
		run("mutex", func(ctx context.Context) { mutexContention(ctx, i) })
		run("sleep", func(ctx context.Context) { sleeper(ctx, i) })
		run("spawn", func(ctx context.Context) { spawner(ctx, i) })
	}
	for i := 0; i < *nPairs; i++ {
		run("pingpong", func(ctx context.Context) { pingPong(ctx, i) })
	}
	run("cond", func(ctx context.Context) { condWorkers(ctx, n) })
	run("waitgroup", func(ctx context.Context) { waitGroups(ctx, n) })
	run("net", func(ctx context.Context) { netLoopback(ctx, max(1, n/4)) })
	run("file", func(ctx context.Context) { fileReads(ctx, max(1, n/4)) })
	for i := 0; i < *nCPUGs; i++ {
		run("cpu", func(ctx context.Context) { cpuBound(ctx, i) })
	}

	all.Wait()
	trace.Stop()
	if err := bw.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fi, _ := os.Stat(*outPath)
	fmt.Fprintf(os.Stderr,
		"wrote %s (%d bytes) go=%s chan=%d select=%d mutex=%d cond=%d wg=%d sleep=%d net=%d file=%d cpu=%d spawn=%d ping=%d sink=%d\n",
		*outPath, fi.Size(), runtime.Version(), nChan.Load(), nSelect.Load(), nMutex.Load(), nCond.Load(),
		nWG.Load(), nSleep.Load(), nNet.Load(), nFile.Load(), nCPU.Load(), nSpawn.Load(), nPing.Load(), sink.Load()%10)
}

// chanPipeline: producer -> unbuffered stage -> small-buffered consumer.
// Goroutines block on channel send and receive.
func chanPipeline(ctx context.Context, id int) {
	a := make(chan int)    // unbuffered: send and recv both block
	b := make(chan int, 2) // small buffer: occasional blocking
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // stage
		defer wg.Done()
		defer close(b)
		for v := range a {
			b <- v * 2
		}
	}()
	go func() { // consumer (slow)
		defer wg.Done()
		for v := range b {
			sink.Add(uint64(v))
			nChan.Add(1)
			if v%16 == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	for i := 0; ctx.Err() == nil; i++ {
		a <- i + id
	}
	close(a)
	wg.Wait()
}

// pingPong: two goroutines bounce a token over unbuffered channels: the
// densest source of block/unblock/start events per CPU second.
func pingPong(ctx context.Context, id int) {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	v := id
	for i := 1; ctx.Err() == nil; i++ {
		ping <- v
		v = <-pong
		nPing.Add(1)
		if *burst > 0 && i%*burst == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	close(ping)
	for range pong {
	}
}

// selectLoop: select over several channels fed by timers and a helper.
func selectLoop(ctx context.Context, id int) {
	c1 := make(chan int)
	c2 := make(chan int, 1)
	tick := time.NewTicker(time.Duration(200+id*10) * time.Microsecond)
	defer tick.Stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case c1 <- i:
			case c2 <- -i:
			case <-ctx.Done():
				return
			}
			if i%8 == 0 {
				runtime.Gosched()
			}
		}
	}()
	for {
		select {
		case v := <-c1:
			sink.Add(uint64(v))
		case v := <-c2:
			sink.Add(uint64(-v))
		case <-tick.C:
			sink.Add(1)
		case <-ctx.Done():
			<-done
			return
		}
		nSelect.Add(1)
	}
}

// mutexContention: several goroutines fight over one mutex with work inside.
func mutexContention(ctx context.Context, id int) {
	var mu sync.Mutex
	shared := make(map[int]int)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(*seed + int64(id*10+w)))
			for ctx.Err() == nil {
				mu.Lock()
				for k := 0; k < 32; k++ {
					shared[r.Intn(64)]++
				}
				if r.Intn(20) == 0 {
					time.Sleep(20 * time.Microsecond) // hold the lock while sleeping
				}
				mu.Unlock()
				nMutex.Add(1)
				if r.Intn(8) == 0 {
					runtime.Gosched() // Running->Runnable with reason "runtime.Gosched"
				}
			}
		}(w)
	}
	wg.Wait()
}

// condWorkers: a producer signals a condition variable that n consumers wait on.
func condWorkers(ctx context.Context, n int) {
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	queue := 0
	stop := false
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			for {
				for queue == 0 && !stop {
					cond.Wait()
				}
				if stop {
					return
				}
				queue--
				nCond.Add(1)
			}
		}()
	}
	for i := 0; ctx.Err() == nil; i++ {
		mu.Lock()
		queue++
		if i%5 == 0 {
			queue += 3
			cond.Broadcast()
		} else {
			cond.Signal()
		}
		mu.Unlock()
		time.Sleep(30 * time.Microsecond)
	}
	mu.Lock()
	stop = true
	cond.Broadcast()
	mu.Unlock()
	wg.Wait()
}

// waitGroups: repeated fork/join rounds of short-lived goroutines.
func waitGroups(ctx context.Context, n int) {
	for round := 0; ctx.Err() == nil; round++ {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				x := uint64(i + round)
				for k := 0; k < 2000; k++ {
					x = x*6364136223846793005 + 1442695040888963407
				}
				sink.Add(x)
			}(i)
		}
		wg.Wait()
		nWG.Add(1)
	}
}

// sleeper: sleeps of varying length.
func sleeper(ctx context.Context, id int) {
	r := rand.New(rand.NewSource(*seed + 1000 + int64(id)))
	for ctx.Err() == nil {
		time.Sleep(time.Duration(10+r.Intn(2000)) * time.Microsecond)
		nSleep.Add(1)
	}
}

// spawner: continuously creates goroutines that do a little work and exit.
func spawner(ctx context.Context, id int) {
	var wg sync.WaitGroup
	for i := 0; ctx.Err() == nil; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			buf := make([]byte, 256+i%1024) // some allocation -> GC activity
			for k := range buf {
				buf[k] = byte(k + i)
			}
			sink.Add(uint64(buf[len(buf)-1]))
			nSpawn.Add(1)
		}(i)
		if i%32 == 31 {
			wg.Wait() // bound the number alive
			time.Sleep(100 * time.Microsecond)
		}
	}
	wg.Wait()
}

// netLoopback: an echo server on 127.0.0.1 with `conns` clients doing
// request/response round trips. Blocks in the network poller.
func netLoopback(ctx context.Context, conns int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Printf("net: listen: %v (skipping network workload)", err)
		return
	}
	var srv sync.WaitGroup
	srv.Add(1)
	go func() {
		defer srv.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			srv.Add(1)
			go func(c net.Conn) {
				defer srv.Done()
				defer c.Close()
				io.Copy(c, c) // echo until the client closes
			}(c)
		}
	}()
	var cl sync.WaitGroup
	for i := 0; i < conns; i++ {
		cl.Add(1)
		go func(i int) {
			defer cl.Done()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				log.Printf("net: dial: %v", err)
				return
			}
			defer c.Close()
			msg := make([]byte, 512)
			resp := make([]byte, 512)
			for k := 0; ctx.Err() == nil; k++ {
				msg[0] = byte(k)
				if _, err := c.Write(msg); err != nil {
					return
				}
				if _, err := io.ReadFull(c, resp); err != nil {
					return
				}
				nNet.Add(1)
				if k%64 == 0 {
					time.Sleep(200 * time.Microsecond)
				}
			}
		}(i)
	}
	cl.Wait()
	ln.Close()
	srv.Wait()
}

// fileReads: blocking read syscalls on a temp file (regular files are not
// handled by the netpoller, so these show up as syscalls).
func fileReads(ctx context.Context, workers int) {
	dir, err := os.MkdirTemp("", "tracegen")
	if err != nil {
		log.Printf("file: %v", err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "data")
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		log.Printf("file: %v", err)
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for ctx.Err() == nil {
				f, err := os.Open(path)
				if err != nil {
					return
				}
				for {
					n, err := f.Read(buf)
					if n > 0 {
						sink.Add(uint64(buf[n-1]))
					}
					if err != nil {
						break
					}
				}
				f.Close()
				nFile.Add(1)
				time.Sleep(500 * time.Microsecond)
			}
		}(w)
	}
	wg.Wait()
}

// cpuBound: tight arithmetic loops with occasional context checks, so these
// goroutines get preempted (every ~10ms) rather than blocking.
func cpuBound(ctx context.Context, id int) {
	x := uint64(id + 1)
	for ctx.Err() == nil {
		for k := 0; k < 100_000; k++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
		sink.Add(x)
		nCPU.Add(1)
	}
}
