package bulk

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/reason"
	"github.com/loan-scorer/loan-scorer/sink"
)

// textRows is a chunk's storage for CSV records or JSON lines.
type textRows struct {
	records [][]string
	lines   [][]byte
	arena   []byte
}

// csvFormat reads a CSV file with a header and writes it back with the
// value columns and an error column (empty when the row was scored)
// appended.
type csvFormat struct {
	r       *csv.Reader
	header  []string
	mapper  *ingest.CSVMapper
	valCols []string
	k       int // reasons per row (Options.Explain), in 2k columns
	bw      *bufio.Writer
	w       *csv.Writer
	opts    Options
	// Parquet output: numeric[i] says whether CSV column i is a numeric
	// feature (a double column); pw writes the rows.
	toParquet bool
	numeric   []bool
	pw        *parquet.GenericWriter[any]
	rows      []parquet.Row
}

func openCSV(src *os.File, o Options, toParquet bool) (*csvFormat, error) {
	br := bufio.NewReaderSize(src, 1<<20)
	if err := ingest.SkipBOM(br); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: CSV header: %w", ErrCorrupt, err)
	}
	if err := checkColumns(len(header), o.MaxColumns); err != nil {
		return nil, err
	}
	f := &csvFormat{r: r, header: header, valCols: valueColumns(o.Model), k: o.Explain, opts: o, toParquet: toParquet}
	if !o.CopyThrough {
		if f.mapper, err = ingest.NewCSVMapper(header, o.Model.Schema(), o.Schema); err != nil {
			return nil, err
		}
	}
	for _, c := range append(append(slices.Clone(f.valCols), ReasonColumns(f.k)...), errorColumn) {
		if slices.Contains(header, c) {
			return nil, fmt.Errorf("the input already has a column %q (an output column): rename it", c)
		}
	}
	return f, nil
}

func (f *csvFormat) total() (int64, bool) { return 0, false }

func (f *csvFormat) start(w *os.File) error {
	if f.toParquet {
		return f.startParquet(w)
	}
	f.bw = bufio.NewWriterSize(w, 1<<20)
	f.w = csv.NewWriter(f.bw)
	return f.w.Write(append(append(append(slices.Clone(f.header), f.valCols...), ReasonColumns(f.k)...), errorColumn))
}

func (f *csvFormat) width() int { return len(f.header) + len(f.valCols) + 2*f.k + 1 }

func (f *csvFormat) read(c *chunk, lim chunkLimits) error {
	t := &c.text
	t.records = t.records[:0]
	size := 0
	for c.n < lim.rows && size < lim.bytes {
		rec, err := f.r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		t.records = append(t.records, rec)
		c.n++
		size += f.width() * valueSize
		for _, field := range rec {
			size += len(field)
		}
	}
	if c.n == 0 {
		return io.EOF
	}
	return nil
}

func (f *csvFormat) decode(c *chunk, r int, b *model.Batch) string {
	floats, cats := b.AppendRow()
	if p := f.mapper.Fill(c.text.records[r], floats, cats); p != "" {
		dropLastRow(b)
		return p
	}
	return ""
}

func (f *csvFormat) write(c *chunk) error {
	if f.toParquet {
		return f.writeParquet(c)
	}
	width := len(f.valCols)
	for r := range c.n {
		rec := c.text.records[r]
		for j := range width {
			if c.problems[r] != "" {
				rec = append(rec, "")
			} else {
				rec = append(rec, strconv.FormatFloat(c.out[r*width+j], 'g', -1, 64))
			}
		}
		rec = appendReasonCells(rec, c.noteOf(r), f.k)
		rec = append(rec, c.problems[r])
		if err := f.w.Write(rec); err != nil {
			return err
		}
	}
	return nil
}

func (f *csvFormat) finish() error {
	if f.toParquet {
		if err := f.pw.Close(); err != nil {
			return fmt.Errorf("parquet footer: %w", err)
		}
		return nil
	}
	f.w.Flush()
	if err := f.w.Error(); err != nil {
		return err
	}
	return f.bw.Flush()
}

// jsonlFormat reads JSON lines (ingest.Lines: one application per line,
// decoded by the JSON path's own decoder) and writes each object back with
// the value field added, or with "error" for a line that could not be
// scored.
type jsonlFormat struct {
	lines   *ingest.Lines
	dec     *ingest.Decoder
	valCols []string
	explain bool // lines get "reasons" (Options.Explain > 0)
	bw      *bufio.Writer
	buf     []byte
}

func openJSONL(src *os.File, o Options) (*jsonlFormat, error) {
	return &jsonlFormat{
		lines:   ingest.NewLines(src, 0),
		dec:     ingest.NewDecoder(o.Model.Schema(), o.Schema, o.Limits),
		valCols: valueColumns(o.Model),
		explain: o.Explain > 0,
	}, nil
}

func (f *jsonlFormat) total() (int64, bool) { return 0, false }

func (f *jsonlFormat) start(w *os.File) error {
	f.bw = bufio.NewWriterSize(w, 1<<20)
	return nil
}

// width is 1: a JSON line is kept as one byte slice; the chunk's byte
// budget bounds it.
func (f *jsonlFormat) width() int { return 1 }

func (f *jsonlFormat) read(c *chunk, lim chunkLimits) error {
	t := &c.text
	t.lines = t.lines[:0]
	t.arena = t.arena[:0]
	var starts []int
	for c.n < lim.rows && len(t.arena) < lim.bytes {
		line, _, err := f.lines.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		starts = append(starts, len(t.arena))
		t.arena = append(t.arena, line...)
		c.n++
	}
	for i, s := range starts {
		end := len(t.arena)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		t.lines = append(t.lines, t.arena[s:end:end])
	}
	if c.n == 0 {
		return io.EOF
	}
	return nil
}

func (f *jsonlFormat) decode(c *chunk, r int, b *model.Batch) string {
	err := f.dec.DecodeOne(c.text.lines[r], b)
	if err == nil {
		return ""
	}
	var ie *ingest.InputError
	if !errors.As(err, &ie) || len(ie.Fields) == 0 {
		return err.Error()
	}
	// Every field, in the form the Parquet and CSV paths use.
	names := make([]string, 0, len(ie.Fields))
	for n := range ie.Fields {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + ie.Fields[n]
	}
	return ie.Code + ": " + strings.Join(parts, ", ")
}

func (f *jsonlFormat) write(c *chunk) error {
	width := len(f.valCols)
	for r := range c.n {
		line := c.text.lines[r]
		buf := f.buf[:0]
		isObject := len(line) >= 2 && line[0] == '{' && line[len(line)-1] == '}'
		if isObject {
			buf = append(buf, line[:len(line)-1]...)
			if len(bytes.TrimSpace(line[1:len(line)-1])) > 0 {
				buf = append(buf, ',')
			}
		} else {
			buf = append(buf, '{')
		}
		if p := c.problems[r]; p != "" {
			buf = append(buf, `"error":`...)
			buf = sink.AppendString(buf, p)
		} else {
			for j, name := range f.valCols {
				if j > 0 {
					buf = append(buf, ',')
				}
				buf = sink.AppendString(buf, name)
				buf = append(buf, ':')
				buf = sink.AppendFloat(buf, c.out[r*width+j])
			}
			if n := c.noteOf(r); f.explain && n != nil {
				// The reasons as a result body has them; the unseen
				// values are counted in the run's summary instead.
				buf = sink.AppendNote(buf, &reason.Note{Asked: n.Asked, Reasons: n.Reasons, Err: n.Err})
			}
		}
		buf = append(buf, '}', '\n')
		f.buf = buf
		if _, err := f.bw.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

func (f *jsonlFormat) finish() error { return f.bw.Flush() }

// startParquet types the output columns: a numeric feature's column is a
// nullable double (empty or unparsable cells are null), every other column
// a nullable string, then the value columns and the error column.
func (f *csvFormat) startParquet(w *os.File) error {
	codec, err := sink.Codec(f.opts.Compression)
	if err != nil {
		return err
	}
	s := f.opts.Model.Schema()
	f.numeric = make([]bool, len(f.header))
	fields := make([]parquet.Field, 0, len(f.header)+len(f.valCols)+2*f.k+1)
	for i, h := range f.header {
		node := parquet.Optional(parquet.String())
		if ft, ok := s.Lookup(h); ok && ft.Kind == model.Float {
			f.numeric[i] = true
			node = parquet.Optional(parquet.Leaf(parquet.DoubleType))
		}
		fields = append(fields, &field{Node: node, name: h})
	}
	for _, name := range f.valCols {
		fields = append(fields, &field{Node: parquet.Optional(parquet.Leaf(parquet.DoubleType)), name: name})
	}
	fields = append(fields, reasonFields(f.k)...)
	fields = append(fields, &field{Node: parquet.Optional(parquet.String()), name: errorColumn})
	schema := parquet.NewSchema("scored", &group{fields: fields})
	opts := append(outputOptions(codec, f.opts.RowGroupRows, len(fields)), schema)
	f.pw = parquet.NewGenericWriter[any](w, opts...)
	return nil
}

// writeParquet writes a chunk of CSV records as typed Parquet rows.
func (f *csvFormat) writeParquet(c *chunk) error {
	width := len(f.valCols)
	per := len(f.header) + width + 2*f.k + 1
	if cap(f.rows) < c.n {
		f.rows = make([]parquet.Row, c.n)
	}
	rows := f.rows[:c.n]
	for r := range c.n {
		rec := c.text.records[r]
		row := rows[r][:0]
		if cap(row) < per {
			row = make(parquet.Row, 0, per)
		}
		for i := range f.header {
			if i >= len(rec) {
				row = append(row, parquet.NullValue().Level(0, 0, i))
				continue
			}
			cell := rec[i]
			if !f.numeric[i] {
				row = append(row, parquet.ByteArrayValue([]byte(cell)).Level(0, 1, i))
				continue
			}
			v, err := strconv.ParseFloat(cell, 64)
			if cell == "" || err != nil {
				row = append(row, parquet.NullValue().Level(0, 0, i))
			} else {
				row = append(row, parquet.DoubleValue(v).Level(0, 1, i))
			}
		}
		col := len(f.header)
		for j := range width {
			if c.problems[r] != "" {
				row = append(row, parquet.NullValue().Level(0, 0, col))
			} else {
				row = append(row, parquet.DoubleValue(c.out[r*width+j]).Level(0, 1, col))
			}
			col++
		}
		row, col = appendReasonValues(row, c.noteOf(r), f.k, col)
		if p := c.problems[r]; p != "" {
			row = append(row, parquet.ByteArrayValue([]byte(p)).Level(0, 1, col))
		} else {
			row = append(row, parquet.NullValue().Level(0, 0, col))
		}
		rows[r] = row
	}
	_, err := f.pw.WriteRows(rows)
	return err
}
