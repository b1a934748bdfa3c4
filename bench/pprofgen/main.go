// Command pprofgen writes the goroutine profile (debug=0) of a process
// holding N goroutines parked on N distinct stacks, for goroscope's profile
// benchmark (bench/profile.sh).
//
// Goroutine i recurses depth levels through two functions, branching on
// the bits of i, so the first 2^depth goroutines all have different
// stacks; every one then blocks on a channel receive, a mutex, a select or
// a sleep (by i mod 4), so the classifier has real work.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"time"
)

var (
	block = make(chan struct{})
	mu    sync.Mutex
)

//go:noinline
func left(i, bit int, ready *sync.WaitGroup) { step(i, bit, ready) }

//go:noinline
func right(i, bit int, ready *sync.WaitGroup) { step(i, bit, ready) }

func step(i, bit int, ready *sync.WaitGroup) {
	if bit < 0 {
		park(i, ready)
		return
	}
	if i>>bit&1 == 0 {
		left(i, bit-1, ready)
	} else {
		right(i, bit-1, ready)
	}
}

func park(i int, ready *sync.WaitGroup) {
	ready.Done()
	switch i % 4 {
	case 0:
		<-block
	case 1:
		mu.Lock()
		mu.Unlock() //nolint:staticcheck // never reached while main holds it
	case 2:
		select {
		case <-block:
		case <-time.After(time.Hour):
		}
	default:
		time.Sleep(time.Hour)
	}
}

func main() {
	n := flag.Int("n", 100000, "goroutines (distinct stacks up to 2^depth)")
	depth := flag.Int("depth", 17, "recursion depth (bits of the goroutine index)")
	out := flag.String("out", "profile.pb.gz", "output `FILE`")
	flag.Parse()
	if *n > 1<<*depth {
		fmt.Fprintf(os.Stderr, "pprofgen: -n %d exceeds 2^depth distinct stacks\n", *n)
		os.Exit(2)
	}
	mu.Lock()
	var ready sync.WaitGroup
	ready.Add(*n)
	for i := 0; i < *n; i++ {
		go step(i, *depth-1, &ready)
	}
	ready.Wait()
	time.Sleep(500 * time.Millisecond) // let the last ones park
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pprofgen:", err)
		os.Exit(1)
	}
	if err := pprof.Lookup("goroutine").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "pprofgen:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "pprofgen:", err)
		os.Exit(1)
	}
}
