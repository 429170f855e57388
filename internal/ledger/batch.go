package ledger

import (
	"context"
	"sync"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
)

// OpKind says what a write does.
type OpKind int

// Kinds of writes.
const (
	// OpConsume marks a jti used and appends its entry.
	OpConsume OpKind = iota
	// OpAppend appends an entry.
	OpAppend
)

// Op is one write waiting for a group commit.
type Op struct {
	Kind  OpKind
	JTI   string
	Until time.Time
	Entry audit.Entry

	res chan Result
}

// Result is the outcome of one Op: the entry as written, or an error such
// as ErrAlreadyUsed for that op alone.
type Result struct {
	Entry audit.Entry
	Err   error
}

// CommitFunc applies ops in one transaction and returns one result per op,
// in order. If the transaction fails as a whole it returns the error, and
// every op gets it.
type CommitFunc func(ops []*Op) ([]Result, error)

// Batcher is group commit for a store backend: one goroutine takes the
// first waiting write, gathers every write queued behind it (up to a
// maximum), commits them in one transaction and answers each. Durability
// is the backend's commit; only the number of commits per write falls.
type Batcher struct {
	commit   CommitFunc
	ops      chan *Op
	maxBatch int
	wait     time.Duration

	closeOnce sync.Once
	quit      chan struct{}
	done      chan struct{}
}

// NewBatcher starts a batcher. maxBatch 1 turns group commit off. wait
// bounds how long Do waits for its answer once queued (zero: no bound
// beyond ctx).
func NewBatcher(commit CommitFunc, maxBatch int, wait time.Duration) *Batcher {
	if maxBatch < 1 {
		maxBatch = 1
	}
	b := &Batcher{
		commit: commit, ops: make(chan *Op, 4*maxBatch), maxBatch: maxBatch,
		wait: wait, quit: make(chan struct{}), done: make(chan struct{}),
	}
	go b.run()
	return b
}

// Do queues op and waits for its result. Once queued, the write may commit
// even if ctx ends first; the caller then sees ctx's error and must treat
// the outcome as unknown, that is, honour nothing (fail closed).
func (b *Batcher) Do(ctx context.Context, op *Op) Result {
	op.res = make(chan Result, 1)
	select {
	case <-b.quit:
		return Result{Err: ErrClosed}
	default:
	}
	if b.wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.wait)
		defer cancel()
	}
	select {
	case b.ops <- op:
	case <-b.quit:
		return Result{Err: ErrClosed}
	case <-ctx.Done():
		return Result{Err: Unavailable(ctx.Err())}
	}
	select {
	case r := <-op.res:
		return r
	case <-b.done:
		// Closed after op was queued: the writer may have drained it.
		select {
		case r := <-op.res:
			return r
		default:
			return Result{Err: ErrClosed}
		}
	case <-ctx.Done():
		return Result{Err: Unavailable(ctx.Err())}
	}
}

// Unavailable marks err, such as a context's error while waiting for a
// commit, as the store being unavailable, keeping err matchable.
func Unavailable(err error) error {
	return &wrapped{err}
}

// wrapped marks a context error as the store being unavailable while
// keeping the cause matchable.
type wrapped struct{ err error }

func (w *wrapped) Error() string   { return "store unavailable: " + w.err.Error() }
func (w *wrapped) Unwrap() []error { return []error{ErrUnavailable, w.err} }

func (b *Batcher) run() {
	defer close(b.done)
	batch := make([]*Op, 0, b.maxBatch)
	for {
		select {
		case op := <-b.ops:
			batch = append(batch[:0], op)
		case <-b.quit:
			b.drain()
			return
		}
	gather:
		for len(batch) < b.maxBatch {
			select {
			case op := <-b.ops:
				batch = append(batch, op)
			default:
				break gather
			}
		}
		b.apply(batch)
	}
}

// drain commits writes still queued at close.
func (b *Batcher) drain() {
	for {
		select {
		case op := <-b.ops:
			b.apply([]*Op{op})
		default:
			return
		}
	}
}

func (b *Batcher) apply(batch []*Op) {
	results, err := b.commit(batch)
	for i, op := range batch {
		if err != nil {
			op.res <- Result{Err: err}
		} else {
			op.res <- results[i]
		}
	}
}

// Close stops accepting writes, commits those already queued and waits
// for the writer to finish.
func (b *Batcher) Close() {
	b.closeOnce.Do(func() {
		close(b.quit)
		<-b.done
	})
}

// Closed reports whether Close has been called.
func (b *Batcher) Closed() bool {
	select {
	case <-b.quit:
		return true
	default:
		return false
	}
}
