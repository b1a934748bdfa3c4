// Package server builds request-handling stacks: (*Conn).serve followed by
// alternating handle / middleware frames.
package server

import "goroscope.bench/gen/internal/block"

type Listener struct {
	env  *block.Env
	addr string
}

type Conn struct {
	l      *Listener
	id     int
	remote string
}

// Start spawns one connection goroutine per task.
//
//go:noinline
func Start(env *block.Env, tasks []*block.Task) {
	l := &Listener{env: env, addr: "10.0.0.1:8443"}
	l.acceptLoop(tasks)
}

//go:noinline
func (l *Listener) acceptLoop(tasks []*block.Task) {
	for i, t := range tasks {
		c := &Conn{l: l, id: i, remote: "10.1.2.3:51234"}
		l.env.Ready.Add(1)
		go c.serve(t)
	}
}

// Serve runs a task on the calling goroutine.
func Serve(env *block.Env, t *block.Task) {
	c := &Conn{l: &Listener{env: env}, id: t.Shape}
	c.serve(t)
}

//go:noinline
func (c *Conn) serve(t *block.Task) {
	c.handle(t, t.Depth)
}

//go:noinline
func (c *Conn) handle(t *block.Task, d int) {
	if d <= 0 {
		c.l.env.Park(t)
		return
	}
	if d%3 == 0 {
		c.middleware(t, d-1)
		return
	}
	c.handle(t, d-1)
}

//go:noinline
func (c *Conn) middleware(t *block.Task, d int) {
	if d <= 0 {
		c.l.env.Park(t)
		return
	}
	c.handle(t, d-1)
}
