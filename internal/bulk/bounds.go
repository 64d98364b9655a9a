package bulk

import (
	"fmt"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/loan-scorer/loan-scorer/sink"
)

// Memory bounds that hold however wide the input is. A chunk's rows cost
// about one parquet.Value (or one CSV field) per column, and a Parquet
// writer keeps one page buffer per column and a whole row group until it
// flushes it: with thousands of columns, row counts chosen for twenty
// columns cost gigabytes (a 0.9 MB file of 5,018 columns took 691 MB).
// So rows per chunk, page buffers and output row groups shrink as the
// column count grows, and a chunk of text rows also closes at a byte
// budget. What is left grows with the column count alone (parquet-go's
// per-column readers, writers and buffers: about 50 KB a column), which
// DefaultMaxColumns bounds.
const (
	// DefaultMaxColumns is the most input columns ScoreFile takes unless
	// Options.MaxColumns says otherwise: about 500 MB of per-column state
	// at most.
	DefaultMaxColumns = 10_000
	// inFlightBytes is what all the chunks in flight may hold together:
	// their row values and the bytes of their strings and lines.
	inFlightBytes = 32 << 20
	// valueSize is the memory of one parquet.Value.
	valueSize = int(unsafe.Sizeof(parquet.Value{}))
	// outputPageBuffers is what the output's page buffers may hold
	// together; each column gets its share, between minPageBuffer and
	// parquet-go's default of maxPageBuffer. Encoded pages wait for the
	// row group's end in chunks of the same share, up to parquet-go's
	// 32 KiB.
	outputPageBuffers = 16 << 20
	minPageBuffer     = 4 << 10
	maxPageBuffer     = parquet.DefaultPageBufferSize
	maxPageChunk      = 32 << 10
	// rowGroupValues bounds the values of one output row group, which
	// the writer holds (encoded) until the group is complete: 2^22 values
	// is 32 MiB of doubles, and still the full default of 128Ki rows for
	// up to 32 columns.
	rowGroupValues = 1 << 22
)

// chunkLimits say when the reader closes a chunk: at rows rows, or once
// its rows hold bytes bytes (after at least one row).
type chunkLimits struct {
	rows, bytes int
}

// limitsFor returns the chunk limits for rows of width values each when
// nChunks chunks circulate: batch rows at most, fewer when that many wide
// rows would exceed the chunk's share of inFlightBytes.
func limitsFor(batch, width, nChunks int) chunkLimits {
	share := inFlightBytes / nChunks
	rows := share / (max(width, 1) * valueSize)
	return chunkLimits{rows: min(max(rows, 1), batch), bytes: share}
}

// outputOptions are the Parquet writer options of an output of columns
// columns: sink.WriterOptions with the page buffer and the row group
// bounded as the column count requires.
func outputOptions(codec compress.Codec, rowGroupRows, columns int) []parquet.WriterOption {
	columns = max(columns, 1)
	share := max(outputPageBuffers/columns, minPageBuffer)
	rows := min(max(rowGroupValues/columns, 1), rowGroupRows)
	return append(sink.WriterOptions(codec, rows, "loan-scorer score"),
		parquet.PageBufferSize(min(share, maxPageBuffer)),
		parquet.ColumnPageBuffers(parquet.NewChunkBufferPool(min(share, maxPageChunk))))
}

// checkColumns refuses an input of more than maxColumns columns.
func checkColumns(columns, maxColumns int) error {
	if columns <= maxColumns {
		return nil
	}
	return fmt.Errorf("%w: %d columns, more than the %d allowed (each costs about 50 KB while scoring): "+
		"drop the columns the model does not use, or raise the limit (scorer score --max-columns)", ErrTooWide, columns, maxColumns)
}
