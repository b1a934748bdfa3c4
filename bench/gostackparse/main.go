// Command gostackparse-bench parses a goroutine dump with
// github.com/DataDog/gostackparse and prints one line of figures:
//
//	gostackparse goroutines=N errors=E bytes=B parse_s=S mib_s=T
//
// It is the reference side of the goroscope parser benchmark (../run.sh).
package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/DataDog/gostackparse"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gostackparse-bench DUMP")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	start := time.Now()
	goroutines, errs := gostackparse.Parse(bufio.NewReaderSize(f, 1<<20))
	secs := time.Since(start).Seconds()

	for i, e := range errs {
		if i == 5 {
			fmt.Fprintf(os.Stderr, "gostackparse: ... %d more errors\n", len(errs)-i)
			break
		}
		fmt.Fprintln(os.Stderr, "gostackparse: error:", e)
	}
	size := st.Size()
	fmt.Printf("gostackparse goroutines=%d errors=%d bytes=%d parse_s=%.3f mib_s=%.1f\n",
		len(goroutines), len(errs), size, secs, float64(size)/(1<<20)/secs)
}
