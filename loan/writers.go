package loan

import (
	"bufio"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// This file holds the writers of generated applications: JSON lines and Parquet.

// JSONLines writes applications as JSON lines: one object per line, the
// fields in the seed's order, missing numbers as null.
type JSONLines struct {
	w      *bufio.Writer
	labels bool
	buf    []byte
}

// NewJSONLines returns a writer to w. With labels, every line also carries
// "default" and "default_proba_true". Close flushes; it does not close w.
func NewJSONLines(w io.Writer, labels bool) *JSONLines {
	return &JSONLines{w: bufio.NewWriterSize(w, 64<<10), labels: labels}
}

// Write writes one application (and its label when the writer has labels).
func (j *JSONLines) Write(l *Labeled) error {
	if j.labels {
		j.buf = l.AppendJSON(j.buf[:0])
	} else {
		j.buf = l.Application.AppendJSON(j.buf[:0])
	}
	j.buf = append(j.buf, '\n')
	if _, err := j.w.Write(j.buf); err != nil {
		return fmt.Errorf("write json line: %w", err)
	}
	return nil
}

// Close flushes buffered lines.
func (j *JSONLines) Close() error {
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("flush json lines: %w", err)
	}
	return nil
}

// parquetOptions are the file options of both row shapes: data page v1 and
// bounded row groups (DESIGN.md: compatible with older readers).
func parquetOptions() []parquet.WriterOption {
	return []parquet.WriterOption{
		parquet.DataPageVersion(1),
		parquet.MaxRowsPerRowGroup(128 * 1024),
		parquet.Compression(&parquet.Snappy),
		parquet.CreatedBy("loan-scorer gen", "", ""),
	}
}

// Parquet writes applications as a Parquet file with typed columns named
// like the JSON fields: Term, CreateJob, RetainedJob, UrbanRural int32;
// NoEmp int32 and longitude, latitude double, nullable; GrAppv, SBA_Appv
// double; is_new, same_state boolean; the other categories strings. Labels
// add default (int32) and default_proba_true (double).
type Parquet struct {
	apps    *parquet.GenericWriter[Application]
	labeled *parquet.GenericWriter[Labeled]
	bufA    []Application
	bufL    []Labeled
}

// parquetBatch is how many rows Parquet buffers before handing them to the
// column writer.
const parquetBatch = 4096

// NewParquet returns a writer to w; with labels the rows carry their
// labels. Close writes the footer; it does not close w.
func NewParquet(w io.Writer, labels bool) *Parquet {
	p := &Parquet{}
	if labels {
		p.labeled = parquet.NewGenericWriter[Labeled](w, parquetOptions()...)
	} else {
		p.apps = parquet.NewGenericWriter[Application](w, parquetOptions()...)
	}
	return p
}

// Write adds one row.
func (p *Parquet) Write(l *Labeled) error {
	if p.labeled != nil {
		p.bufL = append(p.bufL, *l)
	} else {
		p.bufA = append(p.bufA, l.Application)
	}
	if len(p.bufA)+len(p.bufL) >= parquetBatch {
		return p.flush()
	}
	return nil
}

func (p *Parquet) flush() error {
	var err error
	if p.labeled != nil {
		_, err = p.labeled.Write(p.bufL)
		clear(p.bufL)
		p.bufL = p.bufL[:0]
	} else {
		_, err = p.apps.Write(p.bufA)
		clear(p.bufA)
		p.bufA = p.bufA[:0]
	}
	if err != nil {
		return fmt.Errorf("write parquet rows: %w", err)
	}
	return nil
}

// Close writes the buffered rows and the file footer.
func (p *Parquet) Close() error {
	if err := p.flush(); err != nil {
		return err
	}
	var err error
	if p.labeled != nil {
		err = p.labeled.Close()
	} else {
		err = p.apps.Close()
	}
	if err != nil {
		return fmt.Errorf("close parquet: %w", err)
	}
	return nil
}
