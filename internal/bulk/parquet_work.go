package bulk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"unsafe"

	"github.com/parquet-go/parquet-go"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
)

// parquetWork is one worker's state for a Parquet input: a batch of rows
// decoded column by column, page by page, straight into the model's batch
// (one column's values at a time, no rows), scored, and written column by
// column into the unit's row-group writer.
type parquetWork struct {
	f        *parquetFormat
	batch    *model.Batch // nil when copying through
	vals     []parquet.Value
	problems []string
	pred     []float64
	readers  []colReader
	noter    *noter // nil when the run notes nothing
	// held are the pages the batch's values came from: its categories
	// share their bytes, so they are released only once it is scored.
	held []parquet.Page
}

func newParquetWork(f *parquetFormat) *parquetWork {
	n := f.opts.Batch
	w := &parquetWork{
		f:        f,
		vals:     make([]parquet.Value, n),
		problems: make([]string, n),
		pred:     make([]float64, n*len(f.valCols)),
		readers:  make([]colReader, f.nInCols),
		noter:    newNoter(f.opts),
	}
	if !f.opts.CopyThrough {
		w.batch = model.NewBatch(f.opts.Model.Schema(), n)
	}
	for c := range w.readers {
		w.readers[c].repeated = f.repeated[c]
	}
	return w
}

func (w *parquetWork) process(ctx context.Context, u *unit) error {
	defer w.close()
	var out *parquet.ConcurrentRowGroupWriter
	var inOut int64 // rows in out
	row := u.first
	for _, pc := range u.pieces {
		if err := w.open(pc); err != nil {
			return err
		}
		for r := pc.lo; r < pc.hi; {
			if err := ctx.Err(); err != nil {
				return err
			}
			if out == nil {
				var err error
				if out, err = u.take(ctx); err != nil {
					return err
				}
				inOut = 0
			}
			n := min(int64(len(w.vals)), pc.hi-r, w.f.outRows-inOut)
			if err := w.rows(out, int(n), pc.rg, row, u); err != nil {
				return err
			}
			r, row, inOut, u.rows = r+n, row+n, inOut+n, u.rows+n
			if inOut == w.f.outRows {
				if err := u.send(out); err != nil {
					return err
				}
				out = nil
			}
		}
		w.close()
	}
	if out != nil {
		return u.send(out)
	}
	return nil
}

// open positions a reader on every column of piece pc.
func (w *parquetWork) open(pc piece) error {
	for c, cc := range w.f.file.RowGroups()[pc.rg].ColumnChunks() {
		pages := cc.Pages()
		w.readers[c].reset(pages)
		if pc.lo == 0 {
			continue
		}
		if fc, ok := cc.(*parquet.FileColumnChunk); ok {
			// Loaded here, SeekToRow goes straight to the page.
			if _, err := fc.OffsetIndex(); err != nil {
				return fmt.Errorf("%w: row group %d: offset index of column %d: %w", ErrCorrupt, pc.rg, c, err)
			}
		}
		if err := pages.SeekToRow(pc.lo); err != nil {
			return fmt.Errorf("%w: row group %d: column %d: seek to row %d: %w", ErrCorrupt, pc.rg, c, pc.lo, err)
		}
	}
	return nil
}

// release lets go of the pages the last batch held.
func (w *parquetWork) release() {
	for i, p := range w.held {
		parquet.Release(p)
		w.held[i] = nil
	}
	w.held = w.held[:0]
}

func (w *parquetWork) close() {
	for c := range w.readers {
		w.readers[c].close()
	}
}

// rows decodes, scores and writes the next n rows of every column (row
// group rg; first is the index in the file of the first of them).
func (w *parquetWork) rows(out *parquet.ConcurrentRowGroupWriter, n, rg int, first int64, u *unit) error {
	cols := out.ColumnWriters()
	if w.batch != nil {
		w.batch.Reset()
		for range n {
			w.batch.AppendRow()
		}
		clear(w.problems[:n])
	}
	defer w.release()
	for c := range w.readers {
		conv := w.f.convs[c]
		for got := 0; got < n; {
			vals, rows, err := w.readers[c].next(n-got, w.vals, &w.held)
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("column %q ends before the row group's %d rows", w.f.file.Schema().Columns()[c], w.f.file.RowGroups()[rg].NumRows())
			}
			if err != nil {
				return fmt.Errorf("%w: row group %d: %w", ErrCorrupt, rg, err)
			}
			if conv != nil && w.batch != nil {
				conv.Fill(vals, w.batch, got, w.problems[got:n])
			}
			if _, err := cols[c].WriteRowValues(vals); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			got += rows
		}
	}
	return w.values(cols, n, first, u)
}

// values scores the batch and writes the value columns, the reason columns
// and the error column of its n rows.
func (w *parquetWork) values(cols []*parquet.ColumnWriter, n int, first int64, u *unit) error {
	width := len(w.f.valCols)
	pred := w.pred[:n*width]
	failed := 0
	if w.batch == nil {
		for i := range pred {
			pred[i] = 0.5
		}
	} else {
		if err := w.noter.predict(w.f.opts.Model, w.batch, pred); err != nil {
			return fmt.Errorf("predict: %w", err)
		}
		for r, p := range w.problems[:n] {
			if p == "" {
				continue
			}
			if !w.f.errCol {
				return fmt.Errorf("%w: row %d: %s (the output has no error column: write missing numbers as nulls)",
					ErrUnscorableRow, first+int64(r), p)
			}
			failed++
		}
	}
	var notes []reason.Note
	if w.noter != nil && w.batch != nil {
		var err error
		if notes, err = w.noter.annotate(w.batch, w.problems[:n], u); err != nil {
			return fmt.Errorf("rows %d to %d: %w", first, first+int64(n)-1, err)
		}
	}
	def := byte(0)
	if w.f.optional {
		def = 1
	}
	vs := w.vals[:n]
	for j := range width {
		col := w.f.nInCols + j
		for r := range n {
			if failed > 0 && w.problems[r] != "" {
				vs[r] = parquet.NullValue().Level(0, 0, col)
			} else {
				vs[r] = parquet.DoubleValue(pred[r*width+j]).Level(0, int(def), col)
			}
		}
		if _, err := cols[col].WriteRowValues(vs); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	col := w.f.nInCols + width
	if w.f.opts.ModelColumn {
		if err := writeModelColumn(cols[col], vs, w.f.opts.Model.Version, col, n); err != nil {
			return err
		}
		col++
	}
	for j := range 2 * w.f.k {
		reasonValues(vs, notes, j, col)
		if _, err := cols[col].WriteRowValues(vs); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		col++
	}
	if w.f.errCol {
		for r := range n {
			if p := w.problems[r]; p != "" {
				vs[r] = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(p), len(p))).Level(0, 1, col)
			} else {
				vs[r] = parquet.NullValue().Level(0, 0, col)
			}
		}
		if _, err := cols[col].WriteRowValues(vs); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	u.errors += int64(failed)
	return nil
}

// colReader reads one column chunk page by page, handing out the values
// of whole rows, never more than one page's at once: a page's values are
// valid until the reader moves to the next page.
type colReader struct {
	pages    parquet.Pages
	page     parquet.Page
	values   parquet.ValueReader
	repeated bool
	// A repeated column's values read ahead: pend is the part of buf not
	// handed out yet; pageEnd says the page has no more.
	buf     []parquet.Value
	pend    []parquet.Value
	pageEnd bool
}

func (r *colReader) reset(p parquet.Pages) {
	r.close()
	r.pages = p
}

func (r *colReader) close() {
	r.dropPage()
	if r.pages != nil {
		_ = r.pages.Close()
		r.pages = nil
	}
	r.pend = r.pend[:0]
	r.pageEnd = false
}

func (r *colReader) dropPage() {
	if r.page != nil {
		parquet.Release(r.page)
	}
	r.page, r.values = nil, nil
}

// nextPage moves to the next page, handing the current one to held (its
// values may still be in use) or releasing it when held is nil.
func (r *colReader) nextPage(held *[]parquet.Page) error {
	if held != nil && r.page != nil {
		*held = append(*held, r.page)
		r.page, r.values = nil, nil
	}
	r.dropPage()
	p, err := r.pages.ReadPage()
	if err != nil {
		return err
	}
	r.page, r.values, r.pageEnd = p, p.Values(), false
	return nil
}

// next returns the values of up to n rows (at least one), from the
// current page, read into buf unless the column is repeated, and the
// number of rows they hold; io.EOF when the column chunk has no more. The
// pages it moves past go to held, which keeps them (and the bytes the
// values returned share) until the caller releases them.
func (r *colReader) next(n int, buf []parquet.Value, held *[]parquet.Page) ([]parquet.Value, int, error) {
	if r.repeated {
		return r.nextRepeated(n, held)
	}
	for {
		if r.values == nil {
			if err := r.nextPage(held); err != nil {
				return nil, 0, err
			}
		}
		k, err := r.values.ReadValues(buf[:min(n, len(buf))])
		if k > 0 {
			return buf[:k], k, nil
		}
		if err == nil {
			return nil, 0, io.ErrNoProgress // a corrupt page must not spin
		}
		if !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
		if err := r.nextPage(held); err != nil {
			return nil, 0, err
		}
	}
}

// nextRepeated is next for a repeated column: a row is a value of
// repetition level 0 and the values after it up to the next such value
// (or the end of the page).
func (r *colReader) nextRepeated(n int, held *[]parquet.Page) ([]parquet.Value, int, error) {
	if r.buf == nil {
		r.buf = make([]parquet.Value, 1024)
	}
	for {
		starts := 0
		for i, v := range r.pend {
			if v.RepetitionLevel() != 0 {
				continue
			}
			if starts == n {
				out := r.pend[:i]
				r.pend = r.pend[i:]
				return out, n, nil
			}
			starts++
		}
		if r.pageEnd && len(r.pend) > 0 {
			out := r.pend
			r.pend = r.buf[:0]
			return out, starts, nil
		}
		if r.values == nil || r.pageEnd {
			if err := r.nextPage(held); err != nil {
				return nil, 0, err
			}
			r.pend = r.buf[:0]
		}
		// Read more after what is pending, at the start of buf.
		held := copy(r.buf, r.pend)
		if held == len(r.buf) {
			r.buf = append(r.buf, make([]parquet.Value, len(r.buf))...)
		}
		k, err := r.values.ReadValues(r.buf[held:])
		r.pend = r.buf[:held+k]
		switch {
		case errors.Is(err, io.EOF):
			r.pageEnd = true
		case err != nil:
			return nil, 0, err
		case k == 0:
			return nil, 0, io.ErrNoProgress
		}
	}
}
