// Package storage builds B-tree-like stacks: mutual recursion between
// (*Tree).descend and (*Node).visit under (*Compactor).run.
package storage

import "goroscope.bench/gen/internal/block"

type Tree struct {
	env  *block.Env
	name string
}

type Node struct {
	tree  *Tree
	level int
	keys  []string
}

type Compactor struct {
	tree *Tree
	id   int
}

// StartCompactions spawns one compactor goroutine per task.
//
//go:noinline
func StartCompactions(env *block.Env, tasks []*block.Task) {
	tree := &Tree{env: env, name: "index"}
	for i, t := range tasks {
		c := &Compactor{tree: tree, id: i}
		env.Ready.Add(1)
		go c.run(t, "user/000042")
	}
}

// Compact runs a task on the calling goroutine.
func Compact(env *block.Env, t *block.Task) {
	c := &Compactor{tree: &Tree{env: env, name: "index"}}
	c.run(t, "user/000042")
}

//go:noinline
func (c *Compactor) run(t *block.Task, key string) {
	c.tree.descend(key, t, t.Depth)
}

//go:noinline
func (tr *Tree) descend(key string, t *block.Task, d int) {
	if d <= 0 {
		tr.env.Park(t)
		return
	}
	n := &Node{tree: tr, level: d}
	n.visit(key, t, d-1)
}

//go:noinline
func (n *Node) visit(key string, t *block.Task, d int) {
	if d <= 0 {
		n.tree.env.Park(t)
		return
	}
	n.tree.descend(key, t, d-1)
}
