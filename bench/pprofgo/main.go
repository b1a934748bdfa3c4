// Command pprofgo is the Go side of goroscope's profile benchmark: it reads
// a goroutine profile with the Go pprof library's parser
// (github.com/google/pprof/profile, what `go tool pprof` uses), then walks
// every sample's frames the way goroscope must (innermost first, inlined
// lines expanded) and counts goroutines by their innermost function, so
// both tools do comparable work. It prints "goroutines=N samples=M".
package main

import (
	"fmt"
	"os"

	"github.com/google/pprof/profile"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: pprofgo PROFILE")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "pprofgo:", err)
		os.Exit(1)
	}
	p, err := profile.Parse(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pprofgo:", err)
		os.Exit(1)
	}
	byLeaf := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		leaf := ""
		frames := 0
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				if frames == 0 && line.Function != nil {
					leaf = line.Function.Name
				}
				frames++
			}
		}
		byLeaf[leaf] += s.Value[0]
		total += s.Value[0]
	}
	fmt.Printf("goroutines=%d samples=%d leaves=%d\n", total, len(p.Sample), len(byLeaf))
}
