// Package worker builds stacks of generic frames: (*Pool[...]).loop followed
// by recursive Walk[...] frames.
package worker

import "goroscope.bench/gen/internal/block"

type Pool[T any] struct {
	env   *block.Env
	items []T
}

// StartPool spawns one pool worker goroutine per task; even tasks use an int
// pool and odd ones a string pool, so both instantiations appear.
//
//go:noinline
func StartPool(env *block.Env, tasks []*block.Task) {
	pi := &Pool[int]{env: env, items: []int{1, 2, 3}}
	ps := &Pool[string]{env: env, items: []string{"a", "b"}}
	for i, t := range tasks {
		env.Ready.Add(1)
		if i%2 == 0 {
			go pi.loop(t)
		} else {
			go ps.loop(t)
		}
	}
}

// Run runs a task on the calling goroutine.
func Run(env *block.Env, t *block.Task) {
	p := &Pool[float64]{env: env}
	p.loop(t)
}

//go:noinline
func (p *Pool[T]) loop(t *block.Task) {
	Walk(p, t, t.Depth)
}

//go:noinline
func Walk[T any](p *Pool[T], t *block.Task, d int) {
	if d <= 0 {
		p.env.Park(t)
		return
	}
	Walk(p, t, d-1)
}
