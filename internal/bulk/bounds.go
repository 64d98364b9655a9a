package bulk

import (
	"fmt"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	pqformat "github.com/parquet-go/parquet-go/format"

	"github.com/loan-scorer/loan-scorer/internal/buildinfo"
	"github.com/loan-scorer/loan-scorer/sink"
)

// Memory bounds that hold however wide the input is. A chunk's rows cost
// about one parquet.Value (or one CSV field) per column, and a Parquet
// writer keeps one page buffer per column and a whole row group until it
// flushes it: with thousands of columns, row counts chosen for twenty
// columns cost gigabytes (a 0.9 MB file of 5,018 columns took 691 MB).
// So rows per chunk, page buffers and output row groups shrink as the
// column count grows, and a chunk of text rows also closes at a byte
// budget. What is left grows with the column count (parquet-go's
// per-column readers, writers and buffers: about 50 KB a column), which
// DefaultMaxColumns bounds, and with the input's pages: reading rows holds
// one decompressed page of every column at once, a size the file's writer
// chose, which DefaultMaxPageBytes bounds (estimated from the footer).
const (
	// DefaultMaxColumns is the most input columns ScoreFile takes unless
	// Options.MaxColumns says otherwise: about 500 MB of per-column state
	// at most.
	DefaultMaxColumns = 10_000
	// DefaultMaxPageBytes is the most decompressed input pages that may
	// be held at once unless Options.MaxPageBytes says otherwise.
	DefaultMaxPageBytes = 1 << 30
	// assumedPageSize is the page size taken for a column chunk larger
	// than it: the default of Arrow, pyarrow and parquet-mr writers.
	assumedPageSize = 1 << 20
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

// Key-value metadata of every Parquet output: its lineage.
const (
	// MetaModel is the version of the model that scored the file
	// (model.Loaded.Version, "<name>@<sha256 prefix>").
	MetaModel = "loan_scorer.model"
	// MetaScorer is the scorer that wrote it (buildinfo.Info.String:
	// module version, VCS revision, Go version).
	MetaScorer = "loan_scorer.scorer"
)

// outputOptions are the Parquet writer options of an output of columns
// columns scored by the model of version modelVersion:
// sink.WriterOptions with the page buffer and the row group bounded as the
// column count requires, and the lineage metadata (MetaModel, MetaScorer).
func outputOptions(codec compress.Codec, rowGroupRows, columns int, modelVersion string) []parquet.WriterOption {
	columns = max(columns, 1)
	share := max(outputPageBuffers/columns, minPageBuffer)
	rows := min(max(rowGroupValues/columns, 1), rowGroupRows)
	return append(sink.WriterOptions(codec, rows, "score"),
		parquet.PageBufferSize(min(share, maxPageBuffer)),
		parquet.ColumnPageBuffers(parquet.NewChunkBufferPool(min(share, maxPageChunk))),
		parquet.KeyValueMetadata(MetaModel, modelVersion),
		parquet.KeyValueMetadata(MetaScorer, buildinfo.Read().String()))
}

// checkColumns refuses an input of more than maxColumns columns.
func checkColumns(columns, maxColumns int) error {
	if columns <= maxColumns {
		return nil
	}
	return fmt.Errorf("%w: %d columns, more than the %d allowed (each costs about 50 KB while scoring): "+
		"drop the columns the model does not use, or raise the limit (scorer score --max-columns)", ErrTooWide, columns, maxColumns)
}

// checkPages refuses a Parquet input whose row groups would make the
// reader hold more than maxBytes of decompressed pages at once: one page
// per column, each estimated as its column chunk's uncompressed size up to
// assumedPageSize.
func checkPages(meta *pqformat.FileMetaData, maxBytes int64) error {
	for i, rg := range meta.RowGroups {
		var held int64
		for _, c := range rg.Columns {
			held += min(c.MetaData.TotalUncompressedSize, assumedPageSize)
		}
		if held > maxBytes {
			return fmt.Errorf("%w: row group %d of %d columns would hold about %d MiB of decompressed pages at once, more than %d MiB: "+
				"write the file with fewer columns (or smaller pages)", ErrTooWide, i, len(rg.Columns), held>>20, maxBytes>>20)
		}
	}
	return nil
}
