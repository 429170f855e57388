package ledger

import (
	"context"
	"sync"
	"testing"
	"time"
)

// gatedCommit reports each batch's size when its commit starts, and
// commits it only when the test lets it; each op's result is the op
// doubled.
type gatedCommit struct {
	entered chan int
	gate    chan struct{}
}

func (g *gatedCommit) commit(ops []int) ([]int, error) {
	g.entered <- len(ops)
	<-g.gate
	res := make([]int, len(ops))
	for i, op := range ops {
		res[i] = 2 * op
	}
	return res, nil
}

// send starts Do(op) for each op and checks each answer when it comes.
func send(t *testing.T, wg *sync.WaitGroup, b *Batcher[int, int], ops ...int) {
	for _, op := range ops {
		wg.Go(func() {
			res, err := b.Do(context.Background(), op)
			if err != nil || res != 2*op {
				t.Errorf("Do(%d) = %d, %v; want %d", op, res, err, 2*op)
			}
		})
	}
}

// queued waits until n writes wait in b's queue.
func queued(t *testing.T, b *Batcher[int, int], n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(b.queue) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued after 10 s, want %d", len(b.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBatcherGathersAndLingersOnlyWhenBusy(t *testing.T) {
	g := &gatedCommit{entered: make(chan int, 64), gate: make(chan struct{})}
	b := NewBatcher(g.commit, 64, 0)
	var wg sync.WaitGroup
	t.Cleanup(func() { // on failure too: let every commit through
		close(g.gate)
		b.Close()
		wg.Wait()
	})
	committing := func(want int) {
		t.Helper()
		if n := <-g.entered; n != want {
			t.Fatalf("a transaction of %d writes, want %d", n, want)
		}
	}

	// 1. A lone write is committed alone.
	send(t, &wg, b, 1)
	committing(1)
	g.gate <- struct{}{}
	wg.Wait()

	// 2. While a transaction commits, writes queue; the next transaction
	// takes them all.
	send(t, &wg, b, 2)
	committing(1)
	send(t, &wg, b, 3, 4, 5, 6, 7)
	queued(t, b, 5)
	g.gate <- struct{}{}
	committing(5)

	// 3. After a busy transaction (5 writes), the writer yields to the
	// goroutines ready to run before it commits, and takes the writes
	// they queue meanwhile, until a round brings none.
	var yields int
	b.yield = func() { // runs on the writer's goroutine
		yields++
		if yields == 1 {
			send(t, &wg, b, 12, 13)
			queued(t, b, 2)
		}
	}
	send(t, &wg, b, 8, 9, 10, 11)
	queued(t, b, 4)
	g.gate <- struct{}{} // commits [3..7]
	committing(6)
	g.gate <- struct{}{}
	wg.Wait()
	if yields != 2 {
		t.Fatalf("the writer yielded %d times, want 2", yields)
	}

	// 4. After a transaction below busyFrom, a write does not wait.
	send(t, &wg, b, 14) // the previous held 6: one round, bringing none
	committing(1)
	g.gate <- struct{}{}
	wg.Wait()
	send(t, &wg, b, 15) // the previous held 1: no round
	committing(1)
	g.gate <- struct{}{}
	wg.Wait()
	if yields != 3 {
		t.Fatalf("the writer yielded %d times, want 3", yields)
	}
}
