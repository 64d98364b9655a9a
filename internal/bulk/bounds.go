package bulk

import (
	"fmt"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	pqformat "github.com/parquet-go/parquet-go/format"

	"github.com/loan-scorer/loan-scorer/internal/buildinfo"
	"github.com/loan-scorer/loan-scorer/sink"
)

// Memory bounds that hold however long and however wide the input is.
// At most a window of units is in flight: each holds its input (a block of
// text, or nothing: a Parquet worker reads pages as it goes) and its
// output until the committer writes it in order (a row group of at most
// Options.RowGroupRows rows, encoded and compressed, or a block of text).
// A Parquet worker holds one decompressed page of every column it reads
// and a batch of rows; a row-group writer holds one page buffer per column
// until the row group is written. Those per-column costs (about 50 KB a
// column: parquet-go's readers, writers and buffers) are what grow with
// the column count: DefaultMaxColumns bounds it, the window shrinks as
// columns grow (inFlightColumns), and the input's pages, a size the file's
// writer chose, are bounded by DefaultMaxPageBytes (estimated from the
// footer) across the workers reading at once.
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
	// inFlightColumns bounds the output columns of all the row-group
	// writers in flight: a file of 20 columns gets the full window, one
	// of 5,000 columns a window of 2.
	inFlightColumns = 12_000
	// textBlock is the default Options.BlockBytes.
	textBlock = 2 << 20
	// outputPageBuffers is what the output's page buffers may hold
	// together; each column gets its share, between minPageBuffer and
	// parquet-go's default of maxPageBuffer. Encoded pages wait for the
	// row group's end in chunks of the same share, up to parquet-go's
	// 32 KiB.
	outputPageBuffers = 16 << 20
	minPageBuffer     = 4 << 10
	maxPageBuffer     = parquet.DefaultPageBufferSize
	maxPageChunk      = 32 << 10
	// dictionaryBytes is what the dictionaries of all the row groups in
	// flight may hold together: each column's share, up to 1 MiB, is its
	// dictionary's limit, past which the rest of its row group is plain.
	// Under 16 KiB a column, string columns stay plain. Dictionaries make
	// most string columns several times smaller, so there is less to
	// compress (and less to write).
	dictionaryBytes    = 32 << 20
	minDictionaryBytes = 16 << 10
	maxDictionaryBytes = 1 << 20
	// rowGroupValues bounds the values of one output row group, which
	// the writer holds (encoded) until the group is complete: 2^22 values
	// is 32 MiB of doubles, and still the full default of 128Ki rows for
	// up to 32 columns.
	rowGroupValues = 1 << 22
)

// windowFor returns the most units in flight for workers workers writing
// columns output columns (a text output: columns 0): two per worker and
// two more, so a worker rarely waits for the committer, fewer for a wide
// output (at least 1).
func windowFor(workers, columns int) int {
	window := 2*workers + 2
	if columns > 0 {
		window = min(window, max(inFlightColumns/columns, 1))
	}
	return window
}

// outputRowGroupRows returns the rows of an output row group of columns
// columns: rowGroupRows, fewer for a wide output (at least 1).
func outputRowGroupRows(rowGroupRows, columns int) int {
	return min(max(rowGroupValues/max(columns, 1), 1), rowGroupRows)
}

// dictionaryLimit returns the most bytes of one column's dictionary for
// window row groups of columns columns in flight, 0 for none.
func dictionaryLimit(columns, window int) int64 {
	share := dictionaryBytes / max(columns*window, 1)
	if share < minDictionaryBytes {
		return 0
	}
	return int64(min(share, maxDictionaryBytes))
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
// columns scored by the model of version modelVersion, window row groups
// of which are in flight: sink.WriterOptions with the page buffer, the row
// group and the dictionaries bounded as the column count requires, and the
// lineage metadata (MetaModel, MetaScorer).
func outputOptions(codec compress.Codec, rowGroupRows, columns, window int, modelVersion string) []parquet.WriterOption {
	share := max(outputPageBuffers/max(columns, 1), minPageBuffer)
	opts := append(sink.WriterOptions(codec, outputRowGroupRows(rowGroupRows, columns), "score"),
		parquet.KeyValueMetadata(MetaModel, modelVersion),
		parquet.KeyValueMetadata(MetaScorer, buildinfo.Read().String()),
		parquet.PageBufferSize(min(share, maxPageBuffer)),
		// Each page's min and max go to the column index (and the column
		// chunk's statistics); the copy in every page header, which
		// readers of the column index do not need, cost 7 % of the CPU.
		parquet.DataPageStatistics(false),
		parquet.ColumnPageBuffers(parquet.NewChunkBufferPool(min(share, maxPageChunk))))
	if limit := dictionaryLimit(columns, window); limit > 0 {
		opts = append(opts, parquet.DefaultEncodingFor(parquet.ByteArray, &parquet.RLEDictionary), parquet.DictionaryMaxBytes(limit))
	}
	return opts
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
// assumedPageSize. It returns the most any row group holds, which bounds
// how many workers may read at once.
func checkPages(meta *pqformat.FileMetaData, maxBytes int64) (int64, error) {
	var most int64
	for i, rg := range meta.RowGroups {
		var held int64
		for _, c := range rg.Columns {
			held += min(c.MetaData.TotalUncompressedSize, assumedPageSize)
		}
		most = max(most, held)
		if held > maxBytes {
			return 0, fmt.Errorf("%w: row group %d of %d columns would hold about %d MiB of decompressed pages at once, more than %d MiB: "+
				"write the file with fewer columns (or smaller pages)", ErrTooWide, i, len(rg.Columns), held>>20, maxBytes>>20)
		}
	}
	return most, nil
}
