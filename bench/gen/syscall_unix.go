//go:build unix

package main

import (
	"syscall"

	"goroscope.bench/gen/internal/block"
)

// startSyscallers starts goroutines blocked in a raw read(2) on a pipe that
// is never written, so they show up as [syscall].
func startSyscallers(env *block.Env, n int) {
	for i := 0; i < n; i++ {
		var p [2]int
		if err := syscall.Pipe(p[:]); err != nil {
			panic(err)
		}
		env.Ready.Add(1)
		go readPipe(env, p[0])
	}
}

//go:noinline
func readPipe(env *block.Env, fd int) {
	buf := make([]byte, 64)
	env.Ready.Done()
	syscall.Read(fd, buf)
}

// fdLimit returns the soft limit on open files (which the Go runtime has
// already raised to the hard limit).
func fdLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 {
		return 1 << 30
	}
	return int(r.Cur)
}
