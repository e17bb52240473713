package sqlstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/cairnhq/cairn"
)

// Op is one Update queued for a store's writer.
type Op struct {
	Ctx   context.Context
	Fn    func(cairn.Tx) error
	Err   error    // the outcome, set by the writer before Finish
	After []func() // the Update's AfterCommit functions, run by Update on success
	done  chan struct{}
}

// Finish hands the op's outcome back to its Update.
func (o *Op) Finish() { close(o.done) }

// Queue hands Updates to a store's single writer goroutine, which runs them
// in batches (group commit).
type Queue struct {
	ops    chan *Op
	quit   chan struct{}
	closed sync.Once
}

// ErrClosed is the answer to an Update after Close.
var ErrClosed = cairn.Errorf(cairn.EUnavailable, "store is closed")

// NewQueue returns a queue that holds up to max waiting ops.
func NewQueue(max int) *Queue {
	return &Queue{ops: make(chan *Op, max), quit: make(chan struct{})}
}

// Update queues fn and waits for the writer's outcome. Once queued the op
// is committed or failed: Update waits for the outcome even if ctx ends,
// so that a caller never reports failure for durable work.
func (q *Queue) Update(ctx context.Context, fn func(cairn.Tx) error) error {
	o := &Op{Ctx: ctx, Fn: fn, done: make(chan struct{})}
	select {
	case q.ops <- o:
	case <-q.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-o.done
	if o.Err == nil {
		for _, f := range o.After {
			f()
		}
	}
	return o.Err
}

// Run is the writer loop: it passes commit each batch of up to max queued
// ops (a fresh slice each time) until Stop, then commits what was queued
// before, one op at a time, and returns.
func (q *Queue) Run(max int, commit func([]*Op)) {
	for {
		var first *Op
		select {
		case first = <-q.ops:
		case <-q.quit:
			for {
				select {
				case o := <-q.ops:
					commit([]*Op{o})
				default:
					return
				}
			}
		}
		batch := append(make([]*Op, 0, 64), first)
	fill:
		for len(batch) < max {
			select {
			case o := <-q.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		commit(batch)
	}
}

// Stop makes Run return after the queued ops; later Updates fail.
func (q *Queue) Stop() { q.closed.Do(func() { close(q.quit) }) }

// Quit is closed by Stop.
func (q *Queue) Quit() <-chan struct{} { return q.quit }

// RunSafely runs an Update function, turning a panic into its error.
func RunSafely(d *Dialect, fn func(cairn.Tx) error, t cairn.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: update panicked: %v", d.Name, r)
		}
	}()
	return fn(t)
}

// FinishAll hands a batch's outcomes back: err, when not nil, fails every
// op that has no error of its own; a failed op's AfterCommit functions are
// dropped.
func FinishAll(batch []*Op, err error) {
	for _, o := range batch {
		if o.Err == nil && err != nil {
			o.Err = err
		}
		if o.Err != nil {
			o.After = nil
		}
		o.Finish()
	}
}
