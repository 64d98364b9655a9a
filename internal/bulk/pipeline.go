package bulk

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"
)

// format reads one input format and writes the output. The pipeline calls
// next from one goroutine (the dispatcher), a work's process from several
// (one work per worker) and commit from one (the committer), in order.
type format interface {
	// total returns the number of input rows when known up front.
	total() (int64, bool)
	// start begins the output in w.
	start(w io.Writer) error
	// plan returns the most units in flight and the number of workers.
	plan() (window, workers int)
	// rowGroups returns the output's row-group writers, which units take
	// and the committer hands back (nil for a text output).
	rowGroups() chan *parquet.ConcurrentRowGroupWriter
	// next fills u with the next run of input (its pieces or its block),
	// and sets u.writers; io.EOF when there is none.
	next(u *unit) error
	// work returns a worker's own state.
	work() (work, error)
	// commit writes u's text output (a Parquet output's row groups are
	// committed as they come, by the pipeline).
	commit(u *unit) error
	// finish completes the output (a Parquet footer).
	finish() error
}

// work scores and encodes units, one at a time, on one worker.
type work interface {
	process(ctx context.Context, u *unit) error
}

// unit is a run of consecutive input rows that one worker scores and
// encodes and the committer writes in its turn.
type unit struct {
	seq int
	// Parquet input: the row ranges, and the index in the file of the
	// unit's first row.
	pieces []piece
	first  int64
	// Text input: whole records, and the number of lines before them.
	block []byte
	line  int

	// What the worker made of it.
	rows, errors int64
	err          error
	text         []byte
	// unseen counts the unit's scored rows with an unseen value, per
	// categorical feature (Stats.Unseen; empty when the run counts none).
	unseen []int64
	// Row groups of a Parquet output: writers reserves the unit's share
	// of the row-group writers, which it takes from private; out carries
	// them to the committer as they are complete, which gives each back
	// to private once it is written.
	writers int
	private chan *parquet.ConcurrentRowGroupWriter
	out     chan *parquet.ConcurrentRowGroupWriter
	done    chan struct{}
}

// take returns a row-group writer of u's share, waiting while all of
// them are with the committer.
func (u *unit) take(ctx context.Context) (*parquet.ConcurrentRowGroupWriter, error) {
	select {
	case w := <-u.private:
		return w, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// send hands a complete row group to the committer, having encoded its
// last pages here, on the worker.
func (u *unit) send(w *parquet.ConcurrentRowGroupWriter) error {
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	u.out <- w // never blocks: out holds every writer of the unit
	return nil
}

// run streams the input through the pipeline: at most window units in
// flight, workers of them scored and encoded at once, committed in order.
// A unit's failure (a corrupt input, a row that cannot be scored) is
// reported when its turn comes, so the error is the first in file order.
func run(ctx context.Context, f format, o Options) (Stats, error) {
	window, workers := f.plan()
	g, ctx := errgroup.WithContext(ctx)
	free := make(chan *unit, window)
	for range window {
		free <- &unit{}
	}
	todo := make(chan *unit, window)
	order := make(chan *unit, window)
	pool := f.rowGroups()
	var st Stats
	names, _ := unseenCounted(o)
	for _, name := range names {
		st.Unseen = append(st.Unseen, Unseen{Feature: name})
	}

	g.Go(func() error { // dispatcher
		defer close(order)
		defer close(todo)
		for seq := 0; ; seq++ {
			var u *unit
			select {
			case u = <-free:
			case <-ctx.Done():
				return ctx.Err()
			}
			*u = unit{seq: seq, pieces: u.pieces[:0], block: u.block[:0], text: u.text[:0], unseen: u.unseen[:0], done: make(chan struct{})}
			err := guard(func() error { return f.next(u) })
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				u.err = err
				close(u.done)
				order <- u // its turn reports it
				return nil
			}
			if u.writers > 0 {
				u.private = make(chan *parquet.ConcurrentRowGroupWriter, u.writers)
				u.out = make(chan *parquet.ConcurrentRowGroupWriter, u.writers)
				for range u.writers {
					select {
					case w := <-pool:
						u.private <- w
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}
			order <- u
			todo <- u
		}
	})
	for range workers {
		g.Go(func() error {
			wk, err := f.work()
			if err != nil {
				return err
			}
			for u := range todo {
				u.err = guard(func() error { return wk.process(ctx, u) })
				if u.out != nil {
					close(u.out)
				}
				close(u.done)
			}
			return nil
		})
	}
	g.Go(func() error { // committer
		for u := range order {
			if u.out != nil {
				for w := range u.out {
					if err := guard(func() error { _, err := w.Commit(); return err }); err != nil {
						return fmt.Errorf("write output: %w", err)
					}
					u.private <- w
				}
			}
			select {
			case <-u.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if u.err != nil {
				return u.err
			}
			if err := f.commit(u); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			for range u.writers {
				pool <- <-u.private
			}
			st.Rows += u.rows
			st.Errors += u.errors
			for i, k := range u.unseen {
				st.Unseen[i].Rows += k
			}
			if o.Progress != nil {
				o.Progress(st.Rows)
			}
			free <- u
		}
		return nil
	})
	err := g.Wait()
	return st, err
}

// guard turns a panic of a decoder or encoder (a corrupt file can reach
// code that does not expect it) into an error.
func guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	return fn()
}
