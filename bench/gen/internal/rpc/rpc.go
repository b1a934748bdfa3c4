// Package rpc builds decoder stacks: a three-function recursion cycle
// decodeFrame -> decodeField -> decodeValue under (*Client).recvLoop.
package rpc

import "goroscope.bench/gen/internal/block"

type Client struct {
	env    *block.Env
	target string
}

type decoder struct {
	c   *Client
	buf []byte
	off int
}

// StartClients spawns one receive-loop goroutine per task.
//
//go:noinline
func StartClients(env *block.Env, tasks []*block.Task) {
	c := &Client{env: env, target: "dns:///backend.svc:443"}
	for _, t := range tasks {
		env.Ready.Add(1)
		go c.recvLoop(t)
	}
}

// Recv runs a task on the calling goroutine.
func Recv(env *block.Env, t *block.Task) {
	c := &Client{env: env}
	c.recvLoop(t)
}

//go:noinline
func (c *Client) recvLoop(t *block.Task) {
	d := &decoder{c: c}
	d.decodeFrame(t, t.Depth)
}

//go:noinline
func (d *decoder) decodeFrame(t *block.Task, n int) {
	if n <= 0 {
		d.c.env.Park(t)
		return
	}
	d.decodeField(t, n-1, uint32(n))
}

//go:noinline
func (d *decoder) decodeField(t *block.Task, n int, tag uint32) {
	if n <= 0 {
		d.c.env.Park(t)
		return
	}
	d.decodeValue(t, n-1, tag, 2)
}

//go:noinline
func (d *decoder) decodeValue(t *block.Task, n int, tag uint32, wire byte) {
	if n <= 0 {
		d.c.env.Park(t)
		return
	}
	d.decodeFrame(t, n-1)
}
