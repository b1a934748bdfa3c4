//go:build !unix

package main

import "goroscope.bench/gen/internal/block"

func startSyscallers(env *block.Env, n int) {}

func fdLimit() int { return 1 << 30 }
