// Command check reads a Go execution trace with golang.org/x/exp/trace and
// prints a stable JSON summary to stdout, to be used as a reference for other
// trace readers.
//
// Usage:
//
//	check [-first N] [-no-goroutines] [-compact] [-read-only] [-cpuprofile f] trace.file
//
// Exit status: 0 on success; 1 if the trace could not be read completely (the
// JSON is still printed, with "error" set and the counts up to the failure);
// 2 on usage / open / output errors.
//
// All times are trace.Time values (int64 nanoseconds, as returned by
// Event.Time()). JSON object keys are emitted in sorted order (struct fields
// are declared alphabetically by their JSON name; maps are sorted by
// encoding/json). Goroutines are a list sorted by ID.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"

	"golang.org/x/exp/trace"
)

// Report is the top-level JSON object. Fields are in alphabetical order of
// their JSON names so the output has sorted keys.
type Report struct {
	Error string `json:"error,omitempty"`
	// EventKinds: count of events per trace.EventKind.String().
	EventKinds map[string]int64 `json:"event_kinds"`
	// FirstEventNs / LastEventNs: Time() of the first and last event in reader
	// order (both are Sync events for a complete trace).
	FirstEventNs int64 `json:"first_event_ns"`
	// FirstTransitions: the first N goroutine state transitions in reader order.
	FirstTransitions []Transition `json:"first_transitions"`
	// GoTransitionPairs: count of goroutine transitions per "From->To" (GoState.String()).
	GoTransitionPairs map[string]int64 `json:"go_transition_pairs"`
	// Goroutines: per-goroutine statistics, sorted by ID (null with -no-goroutines).
	// Streamed by writeReport, never held in memory as a whole.
	Goroutines   json.RawMessage `json:"goroutines"`
	LastEventNs  int64           `json:"last_event_ns"`
	NumGoroutine int             `json:"num_goroutines"`
	// ResourceTransitions: count of EventStateTransition per Resource.Kind.String().
	ResourceTransitions map[string]int64 `json:"resource_transitions"`
	// Syncs: one entry per Sync event.
	Syncs       []SyncInfo `json:"syncs"`
	TotalEvents int64      `json:"total_events"`
	// WaitingReasons: trace-wide count of transitions into Waiting from another
	// state, per Reason.
	WaitingReasons map[string]int64 `json:"waiting_reasons"`
}

type Transition struct {
	CtxG   int64  `json:"ctx_g"`  // Event.Goroutine(): goroutine running on the event's M (state *before* the event)
	CtxM   int64  `json:"ctx_m"`  // Event.Thread()
	CtxP   int64  `json:"ctx_p"`  // Event.Proc()
	From   string `json:"from"`   // GoState.String()
	G      int64  `json:"g"`      // StateTransition.Resource.Goroutine(): the goroutine that transitions
	Reason string `json:"reason"` // StateTransition.Reason ("" for most transitions)
	TimeNs int64  `json:"time_ns"`
	To     string `json:"to"`
}

// GoStats is the JSON form of one goroutine's statistics.
type GoStats struct {
	// FinalState: state after the last transition seen for this goroutine.
	FinalState string `json:"final_state"`
	// FirstNs / LastNs: times of the first and last transition of this goroutine.
	FirstNs int64 `json:"first_ns"`
	ID      int64 `json:"id"`
	LastNs  int64 `json:"last_ns"`
	// Mismatches: transitions whose From differs from the previous To of this
	// goroutine (should be 0; the first transition seen is not checked).
	Mismatches int64 `json:"mismatches,omitempty"`
	// StateNs: ns spent in each state, accumulated between consecutive
	// transitions of this goroutine and attributed to the state the goroutine
	// was in (the To of the earlier transition). Time before the first and
	// after the last transition is not counted. States with 0 ns are omitted.
	StateNs map[string]int64 `json:"state_ns"`
	// Transitions: number of EventStateTransition events for this goroutine
	// (including GoStatus "X->X" transitions at generation boundaries).
	Transitions int64 `json:"transitions"`
	// WaitingReasonCount / WaitingReasonNs: per Waiting period, keyed by the
	// Reason of the transition that entered Waiting ("" if it had none, e.g.
	// GoCreateBlocked or a GoStatus Undetermined->Waiting). A Waiting->Waiting
	// GoStatus continues the current period (same reason, not re-counted).
	WaitingReasonCount map[string]int64 `json:"waiting_reason_count"`
	WaitingReasonNs    map[string]int64 `json:"waiting_reason_ns"`
}

type SyncInfo struct {
	// ClockSnapshot (Go 1.25+ traces): trace-clock ns, monotonic ns, wall clock (unix ns).
	ClockMono   *uint64 `json:"clock_mono,omitempty"`
	ClockTrace  *int64  `json:"clock_trace_ns,omitempty"`
	ClockWallNs *int64  `json:"clock_wall_unix_ns,omitempty"`
	// ExperimentalBatches: number of experimental batches per experiment name.
	ExperimentalBatches map[string]int `json:"experimental_batches,omitempty"`
	N                   int            `json:"n"`
	TimeNs              int64          `json:"time_ns"`
}

// goAcc is the in-memory accumulator for one goroutine. It is pointer-free so
// that millions of them cost the GC nothing to scan.
type goAcc struct {
	id, firstNs, lastNs   int64
	transitions, mismatch int64
	stateNs               [numStates]int64 // indexed by stateIdx(GoState)
	curReason             int32            // index into analyzer.reasons
	cur                   trace.GoState
	seen                  bool
}

// Goroutine IDs are small and dense in practice (the runtime hands them out
// in batches from a global counter), so a slice index is used below this bound.
const maxDenseID = 1 << 28

const numStates = 8 // GoUndetermined..GoSyscall are 0..5; 7 collects unknown future states

func stateIdx(s trace.GoState) int { return min(int(s), numStates-1) }

// accTable stores goAccs in fixed-size chunks: no re-copying on growth and
// no 2x over-allocation, which matters with millions of goroutines.
type accTable struct {
	chunks [][]goAcc
	n      int
}

const accChunk = 1 << 16

func (t *accTable) add(g goAcc) int32 {
	if t.n%accChunk == 0 {
		t.chunks = append(t.chunks, make([]goAcc, 0, accChunk))
	}
	c := &t.chunks[len(t.chunks)-1]
	*c = append(*c, g)
	t.n++
	return int32(t.n - 1)
}

func (t *accTable) at(i int32) *goAcc { return &t.chunks[i/accChunk][i%accChunk] }

type waitKey struct{ g, reason int32 } // g: index into analyzer.accs
type waitVal struct{ ns, count int64 }

type analyzer struct {
	rep        *Report
	firstN     int
	kinds      [32]int64
	kindsOther map[string]int64
	pairs      [numStates][numStates]int64
	dense      []int32              // goroutine ID -> index+1 into accs, for 0 <= ID < maxDenseID
	index      map[trace.GoID]int32 // goroutine ID -> index into accs, for other IDs
	accs       accTable
	reasonIdx  map[string]int32
	reasons    []string
	waitingBy  []int64 // per reason index: trace-wide entries into Waiting
	wait       map[waitKey]waitVal
}

func main() {
	first := flag.Int("first", 50, "number of leading goroutine transitions to list")
	noGs := flag.Bool("no-goroutines", false, "omit the per-goroutine list (for huge traces)")
	compact := flag.Bool("compact", false, "print compact JSON (default: indented)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	readOnly := flag.Bool("read-only", false, "only read all events and print {total_events, error}: measures the bare reader")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: check [-first N] [-no-goroutines] [-compact] [-read-only] [-cpuprofile f] trace.file\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	os.Exit(run(flag.Arg(0), *first, *noGs, *compact, *readOnly, *cpuProfile))
}

func run(path string, first int, noGs, compact, readOnly bool, cpuProfile string) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer f.Close()
	if cpuProfile != "" {
		pf, err := os.Create(cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	in := bufio.NewReaderSize(f, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer out.Flush()

	if readOnly {
		n, err := readAll(in)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		b, _ := json.Marshal(struct {
			Error       string `json:"error,omitempty"`
			TotalEvents int64  `json:"total_events"`
		}{msg, n})
		fmt.Fprintln(out, string(b))
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			return 1
		}
		return 0
	}

	a := newAnalyzer(first)
	err = a.run(in)
	if err != nil {
		a.rep.Error = err.Error()
	}
	if werr := a.writeReport(out, !noGs, !compact); werr != nil {
		fmt.Fprintln(os.Stderr, "output:", werr)
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return 0
}

func newAnalyzer(firstN int) *analyzer {
	return &analyzer{
		rep: &Report{
			EventKinds:          map[string]int64{},
			FirstTransitions:    []Transition{},
			GoTransitionPairs:   map[string]int64{},
			ResourceTransitions: map[string]int64{},
			Syncs:               []SyncInfo{},
			WaitingReasons:      map[string]int64{},
		},
		firstN:     firstN,
		kindsOther: map[string]int64{},
		index:      map[trace.GoID]int32{},
		reasonIdx:  map[string]int32{},
		wait:       map[waitKey]waitVal{},
	}
}

func (a *analyzer) reason(s string) int32 {
	if i, ok := a.reasonIdx[s]; ok {
		return i
	}
	i := int32(len(a.reasons))
	a.reasonIdx[s] = i
	a.reasons = append(a.reasons, s)
	a.waitingBy = append(a.waitingBy, 0)
	return i
}

// run reads the whole trace. On error the report holds everything up to it.
func (a *analyzer) run(r io.Reader) error {
	defer a.finish()
	rep := a.rep
	tr, err := trace.NewReader(r)
	if err != nil {
		return fmt.Errorf("NewReader: %w", err)
	}
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ReadEvent after %d events: %w", rep.TotalEvents, err)
		}
		t := int64(ev.Time())
		if rep.TotalEvents == 0 {
			rep.FirstEventNs = t
		}
		rep.LastEventNs = t
		rep.TotalEvents++
		kind := ev.Kind()
		if int(kind) < len(a.kinds) {
			a.kinds[kind]++
		} else {
			a.kindsOther[kind.String()]++
		}

		switch kind {
		case trace.EventSync:
			s := ev.Sync()
			si := SyncInfo{N: s.N, TimeNs: t}
			if cs := s.ClockSnapshot; cs != nil {
				ct, cm, cw := int64(cs.Trace), cs.Mono, cs.Wall.UnixNano()
				si.ClockTrace, si.ClockMono, si.ClockWallNs = &ct, &cm, &cw
			}
			for name, b := range s.ExperimentalBatches {
				if len(b) == 0 {
					continue
				}
				if si.ExperimentalBatches == nil {
					si.ExperimentalBatches = map[string]int{}
				}
				si.ExperimentalBatches[name] = len(b)
			}
			rep.Syncs = append(rep.Syncs, si)

		case trace.EventStateTransition:
			st := ev.StateTransition()
			rep.ResourceTransitions[st.Resource.Kind.String()]++
			if st.Resource.Kind != trace.ResourceGoroutine {
				continue
			}
			a.goTransition(&ev, &st, t)
		}
	}
}

// lookup returns the accs index for goroutine id, creating an entry if needed.
func (a *analyzer) lookup(id trace.GoID, t int64) int32 {
	if id >= 0 && id < maxDenseID {
		if int(id) >= len(a.dense) {
			a.dense = slices.Grow(a.dense, int(id)+1-len(a.dense))
			a.dense = a.dense[:cap(a.dense)]
		}
		if gi := a.dense[id]; gi != 0 {
			return gi - 1
		}
		gi := a.accs.add(goAcc{id: int64(id), firstNs: t})
		a.dense[id] = gi + 1
		return gi
	}
	gi, ok := a.index[id]
	if !ok {
		gi = a.accs.add(goAcc{id: int64(id), firstNs: t})
		a.index[id] = gi
	}
	return gi
}

func (a *analyzer) goTransition(ev *trace.Event, st *trace.StateTransition, t int64) {
	id := st.Resource.Goroutine() // NOT ev.Goroutine(): that is the G running in the event's context.
	from, to := st.Goroutine()
	a.pairs[stateIdx(from)][stateIdx(to)]++
	if len(a.rep.FirstTransitions) < a.firstN {
		a.rep.FirstTransitions = append(a.rep.FirstTransitions, Transition{
			G: int64(id), TimeNs: t, From: from.String(), To: to.String(), Reason: st.Reason,
			CtxG: int64(ev.Goroutine()), CtxP: int64(ev.Proc()), CtxM: int64(ev.Thread()),
		})
	}

	gi := a.lookup(id, t)
	g := a.accs.at(gi)
	g.transitions++
	if g.seen {
		d := t - g.lastNs
		g.stateNs[stateIdx(g.cur)] += d
		if g.cur == trace.GoWaiting {
			k := waitKey{gi, g.curReason}
			v := a.wait[k]
			v.ns += d
			a.wait[k] = v
		}
		if from != g.cur {
			g.mismatch++
		}
	}
	// A new Waiting period starts when entering Waiting from another state
	// (a GoStatus Waiting->Waiting at a generation boundary continues it).
	if to == trace.GoWaiting && !(g.seen && g.cur == trace.GoWaiting) {
		ri := a.reason(st.Reason)
		g.curReason = ri
		k := waitKey{gi, ri}
		v := a.wait[k]
		v.count++
		a.wait[k] = v
	}
	if to == trace.GoWaiting && from != trace.GoWaiting {
		a.waitingBy[a.reason(st.Reason)]++
	}
	g.seen = true
	g.cur = to
	g.lastNs = t
}

// finish converts the array-based counters into the report's maps.
func (a *analyzer) finish() {
	rep := a.rep
	for k, n := range a.kinds {
		if n != 0 {
			rep.EventKinds[trace.EventKind(k).String()] += n
		}
	}
	for k, n := range a.kindsOther {
		rep.EventKinds[k] += n
	}
	for f := range a.pairs {
		for t, n := range a.pairs[f] {
			if n != 0 {
				rep.GoTransitionPairs[stateName(f)+"->"+stateName(t)] += n
			}
		}
	}
	for ri, n := range a.waitingBy {
		if n != 0 {
			rep.WaitingReasons[a.reasons[ri]] += n
		}
	}
	rep.NumGoroutine = a.accs.n
}

func stateName(i int) string {
	if i == numStates-1 {
		return "Unknown"
	}
	return trace.GoState(i).String()
}

// writeReport writes the report as JSON. The goroutine list is streamed one
// element at a time; the output is byte-identical to encoding the whole
// Report with encoding/json (Encoder, optional SetIndent("", "  ")).
func (a *analyzer) writeReport(w io.Writer, withGoroutines, indent bool) error {
	const placeholder = `"@@GOROUTINES@@"`
	rep := a.rep
	rep.Goroutines = json.RawMessage("null")
	if withGoroutines {
		rep.Goroutines = json.RawMessage(placeholder)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(rep); err != nil {
		return err
	}
	head, tail, found := bytes.Cut(buf.Bytes(), []byte(placeholder))
	if !found {
		_, err := w.Write(buf.Bytes())
		return err
	}
	if _, err := w.Write(head); err != nil {
		return err
	}

	// Per-goroutine waiting-reason stats, grouped by goroutine index.
	keys := make([]waitKey, 0, len(a.wait))
	for k := range a.wait {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y waitKey) int {
		if x.g != y.g {
			return int(x.g) - int(y.g)
		}
		return int(x.reason) - int(y.reason)
	})
	start := make([]int32, a.accs.n+1) // keys[start[g]:start[g+1]] belong to goroutine index g
	for _, k := range keys {
		start[k.g+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}

	order := make([]int32, a.accs.n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int {
		ix, iy := a.accs.at(x).id, a.accs.at(y).id
		switch {
		case ix < iy:
			return -1
		case ix > iy:
			return 1
		}
		return 0
	})

	if len(order) == 0 {
		_, err := io.WriteString(w, "[]")
		if err == nil {
			_, err = w.Write(tail)
		}
		return err
	}
	io.WriteString(w, "[")
	for n, gi := range order {
		g := a.accs.at(gi)
		s := GoStats{
			FinalState:         g.cur.String(),
			FirstNs:            g.firstNs,
			ID:                 g.id,
			LastNs:             g.lastNs,
			Mismatches:         g.mismatch,
			StateNs:            map[string]int64{},
			Transitions:        g.transitions,
			WaitingReasonCount: map[string]int64{},
			WaitingReasonNs:    map[string]int64{},
		}
		for st, ns := range g.stateNs {
			if ns != 0 {
				s.StateNs[stateName(st)] = ns
			}
		}
		for _, k := range keys[start[gi]:start[gi+1]] {
			v := a.wait[k]
			s.WaitingReasonCount[a.reasons[k.reason]] = v.count
			s.WaitingReasonNs[a.reasons[k.reason]] = v.ns
		}
		var b []byte
		var err error
		if indent {
			b, err = json.MarshalIndent(s, "    ", "  ")
		} else {
			b, err = json.Marshal(s)
		}
		if err != nil {
			return err
		}
		if n > 0 {
			io.WriteString(w, ",")
		}
		if indent {
			io.WriteString(w, "\n    ")
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if indent {
		io.WriteString(w, "\n  ")
	}
	io.WriteString(w, "]")
	_, err := w.Write(tail)
	return err
}

// readAll reads every event and does nothing else.
func readAll(r io.Reader) (int64, error) {
	tr, err := trace.NewReader(r)
	if err != nil {
		return 0, fmt.Errorf("NewReader: %w", err)
	}
	var n int64
	for {
		_, err := tr.ReadEvent()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("ReadEvent after %d events: %w", n, err)
		}
		n++
	}
}
