package ledger

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// CommitFunc applies ops in one transaction and returns one result per op,
// in order. A result may carry an outcome for that op alone (such as
// ErrAlreadyUsed); an error fails the whole transaction and every op gets
// it.
type CommitFunc[Op, Res any] func(ops []Op) ([]Res, error)

// Batcher is group commit for a store backend: one goroutine takes the
// first waiting write, gathers every write queued behind it (up to a
// maximum), commits them in one transaction and answers each. Durability
// is the backend's commit; only the number of commits per write falls.
type Batcher[Op, Res any] struct {
	commit   CommitFunc[Op, Res]
	queue    chan *pending[Op, Res]
	maxBatch int
	wait     time.Duration
	last     int    // the number of writes in the previous transaction
	yield    func() // runtime.Gosched; tests replace it

	closeOnce sync.Once
	quit      chan struct{}
	done      chan struct{}
}

// pending is a queued write and where its answer goes.
type pending[Op, Res any] struct {
	op  Op
	out chan outcome[Res]
}

type outcome[Res any] struct {
	res Res
	err error
}

// NewBatcher starts a batcher. maxBatch 1 turns group commit off. wait
// bounds how long Do waits for its answer (zero: no bound beyond ctx), so
// that a stalled disk or database becomes ErrUnavailable, not a hang.
func NewBatcher[Op, Res any](commit CommitFunc[Op, Res], maxBatch int, wait time.Duration) *Batcher[Op, Res] {
	if maxBatch < 1 {
		maxBatch = 1
	}
	b := &Batcher[Op, Res]{
		commit: commit, queue: make(chan *pending[Op, Res], 4*maxBatch),
		maxBatch: maxBatch, wait: wait, yield: runtime.Gosched,
		quit: make(chan struct{}), done: make(chan struct{}),
	}
	go b.run()
	return b
}

// Do queues op and waits for its result. Once queued, the write may commit
// even if ctx ends first; the caller then gets ErrUnavailable and must
// treat the outcome as unknown, that is, honour nothing (fail closed).
func (b *Batcher[Op, Res]) Do(ctx context.Context, op Op) (Res, error) {
	var zero Res
	if b.Closed() {
		return zero, ErrClosed
	}
	if b.wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.wait)
		defer cancel()
	}
	p := &pending[Op, Res]{op: op, out: make(chan outcome[Res], 1)}
	select {
	case b.queue <- p:
	case <-b.quit:
		return zero, ErrClosed
	case <-ctx.Done():
		return zero, Unavailable(ctx.Err())
	}
	select {
	case o := <-p.out:
		return o.res, o.err
	case <-b.done:
		// Closed after p was queued: the writer may have drained it.
		select {
		case o := <-p.out:
			return o.res, o.err
		default:
			return zero, ErrClosed
		}
	case <-ctx.Done():
		return zero, Unavailable(ctx.Err())
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

func (b *Batcher[Op, Res]) run() {
	defer close(b.done)
	batch := make([]*pending[Op, Res], 0, b.maxBatch)
	for {
		select {
		case p := <-b.queue:
			batch = append(batch[:0], p)
		case <-b.quit:
			b.drain()
			return
		}
		batch = b.gather(batch)
		if b.last >= busyFrom {
			batch = b.linger(batch)
		}
		b.last = len(batch)
		b.apply(batch)
	}
}

// gather adds the writes waiting in the queue to batch, up to maxBatch.
func (b *Batcher[Op, Res]) gather(batch []*pending[Op, Res]) []*pending[Op, Res] {
	for len(batch) < b.maxBatch {
		select {
		case p := <-b.queue:
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// busyFrom is the size of the previous transaction from which the store
// counts as busy, and the writer lingers.
const busyFrom = 4

// lingerRounds bounds how often the writer yields for more writes.
const lingerRounds = 4

// linger lets the goroutines that are ready to run go first, and adds the
// writes they queue meanwhile, for as long as each round brings more (at
// most lingerRounds). Under load, requests are often a few microseconds
// from their write (verifying a signature, say): one transaction for
// them all costs less CPU and disk than one each. When nothing else is
// ready to run, yielding returns at once, so an idle store never waits;
// nor does a lone write, as the previous transaction was small. It uses
// no timer, whose wake-ups are too coarse for a few microseconds.
func (b *Batcher[Op, Res]) linger(batch []*pending[Op, Res]) []*pending[Op, Res] {
	for range lingerRounds {
		n := len(batch)
		if n >= b.maxBatch {
			break
		}
		b.yield()
		if batch = b.gather(batch); len(batch) == n {
			break
		}
	}
	return batch
}

// drain commits writes still queued at close.
func (b *Batcher[Op, Res]) drain() {
	for {
		select {
		case p := <-b.queue:
			b.apply([]*pending[Op, Res]{p})
		default:
			return
		}
	}
}

func (b *Batcher[Op, Res]) apply(batch []*pending[Op, Res]) {
	ops := make([]Op, len(batch))
	for i, p := range batch {
		ops[i] = p.op
	}
	results, err := b.commit(ops)
	for i, p := range batch {
		if err != nil {
			p.out <- outcome[Res]{err: err}
		} else {
			p.out <- outcome[Res]{res: results[i]}
		}
	}
}

// Close stops accepting writes, commits those already queued and waits
// for the writer to finish.
func (b *Batcher[Op, Res]) Close() {
	b.closeOnce.Do(func() {
		close(b.quit)
		<-b.done
	})
}

// Closed reports whether Close has been called.
func (b *Batcher[Op, Res]) Closed() bool {
	select {
	case <-b.quit:
		return true
	default:
		return false
	}
}
