// Package block holds the shared objects goroutines park on and the leaf
// functions that do the parking, one per wait reason, so that every blocking
// state in the dump comes with its own distinct top-of-stack frames.
package block

import (
	"sync"
	"time"
)

// Kind is the way a goroutine blocks.
type Kind int

const (
	ChanRecv      Kind = iota // [chan receive]
	ChanSend                  // [chan send]
	Select                    // [select]
	Mutex                     // [sync.Mutex.Lock]
	WaitGroup                 // [sync.WaitGroup.Wait]
	Cond                      // [sync.Cond.Wait]
	Sleep                     // [sleep]
	RWMutexR                  // [sync.RWMutex.RLock]
	NilChanRecv               // [chan receive (nil chan)]
	SelectNoCases             // [select (no cases)]
	NumKinds
)

// Task describes one worker goroutine: which stack shape it reproduces, how
// many recursive frames it builds before parking, and how it parks.
type Task struct {
	Shape int
	Depth int
	Kind  Kind
	Shard int
	Child bool // spawn a watcher goroutine right before parking
}

// Env holds the sharded objects that goroutines block on, and Ready, which
// every goroutine marks Done right before it parks.
type Env struct {
	Ready sync.WaitGroup

	recv   []chan int
	send   []chan int
	selA   []chan struct{}
	selB   []chan []byte
	mu     []*sync.Mutex
	rw     []*sync.RWMutex
	wg     []*sync.WaitGroup
	cond   []*sync.Cond
	shards int
}

// NewEnv allocates shards copies of every blocking object, with the mutexes
// held and the wait groups non-zero forever, so that nothing ever wakes up.
func NewEnv(shards int) *Env {
	e := &Env{shards: shards}
	for i := 0; i < shards; i++ {
		e.recv = append(e.recv, make(chan int))
		e.send = append(e.send, make(chan int))
		e.selA = append(e.selA, make(chan struct{}))
		e.selB = append(e.selB, make(chan []byte))
		mu := new(sync.Mutex)
		mu.Lock()
		e.mu = append(e.mu, mu)
		rw := new(sync.RWMutex)
		rw.Lock()
		e.rw = append(e.rw, rw)
		wg := new(sync.WaitGroup)
		wg.Add(1)
		e.wg = append(e.wg, wg)
		e.cond = append(e.cond, sync.NewCond(new(sync.Mutex)))
	}
	return e
}

// Park marks the calling goroutine ready and blocks it forever.
//
//go:noinline
func (e *Env) Park(t *Task) {
	s := t.Shard % e.shards
	if t.Child {
		e.Ready.Add(1)
		go e.watch(s)
	}
	switch t.Kind {
	case ChanRecv:
		e.Ready.Done()
		waitForMessage(e.recv[s])
	case ChanSend:
		e.Ready.Done()
		publishResult(e.send[s], t.Depth)
	case Select:
		e.Ready.Done()
		awaitEither(e.selA[s], e.selB[s])
	case Mutex:
		e.Ready.Done()
		acquireLease(e.mu[s])
	case WaitGroup:
		e.Ready.Done()
		joinWorkers(e.wg[s])
	case Cond:
		c := e.cond[s]
		c.L.Lock()
		e.Ready.Done()
		waitForSignal(c)
	case Sleep:
		e.Ready.Done()
		backoff(1000 * time.Hour)
	case RWMutexR:
		e.Ready.Done()
		readSnapshot(e.rw[s])
	case NilChanRecv:
		e.Ready.Done()
		drainNil(nil)
	case SelectNoCases:
		e.Ready.Done()
		parkForever()
	default:
		panic("unknown kind")
	}
}

// watch is the body of the grandchild goroutines spawned by workers.
//
//go:noinline
func (e *Env) watch(s int) {
	e.Ready.Done()
	select {
	case <-e.selA[s]:
	case v := <-e.recv[s]:
		_ = v
	}
}

//go:noinline
func waitForMessage(ch chan int) int { return <-ch }

//go:noinline
func publishResult(ch chan int, v int) { ch <- v }

//go:noinline
func awaitEither(a chan struct{}, b chan []byte) []byte {
	select {
	case <-a:
		return nil
	case v := <-b:
		return v
	}
}

//go:noinline
func acquireLease(mu *sync.Mutex) { mu.Lock() }

//go:noinline
func joinWorkers(wg *sync.WaitGroup) { wg.Wait() }

//go:noinline
func waitForSignal(c *sync.Cond) {
	for {
		c.Wait()
	}
}

//go:noinline
func backoff(d time.Duration) { time.Sleep(d) }

//go:noinline
func readSnapshot(rw *sync.RWMutex) { rw.RLock() }

//go:noinline
func drainNil(ch chan string) string { return <-ch }

//go:noinline
func parkForever() { select {} }
