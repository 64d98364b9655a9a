package sink

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/format"
)

// zstdWindow is the zstd window of the files: a Parquet page is compressed
// on its own and pages stay well under a megabyte, so a larger window (the
// library default is 8 MiB) would only cost memory.
const zstdWindow = 1 << 20

// zstdCodec compresses Parquet pages with zstd through one long-lived
// encoder (and decoder), created on first use. parquet-go's own codec
// keeps its encoders in a sync.Pool, which every garbage collection
// empties, so a long run keeps allocating fresh 8 MiB histories and its
// peak memory creeps up with the file's length; this one does not.
// Safe for concurrent use.
type zstdCodec struct {
	level zstd.EncoderLevel // 0: zstd.SpeedDefault
	once  sync.Once
	enc   *zstd.Encoder
	dec   *zstd.Decoder
	err   error
}

func (c *zstdCodec) String() string { return "ZSTD" }

// CompressionCodec returns the Parquet codec id.
func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *zstdCodec) init() error {
	c.once.Do(func() {
		n := runtime.GOMAXPROCS(0)
		level := c.level
		if level == 0 {
			level = zstd.SpeedDefault
		}
		c.enc, c.err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(n), zstd.WithWindowSize(zstdWindow),
			zstd.WithEncoderLevel(level), zstd.WithZeroFrames(true), zstd.WithEncoderCRC(false))
		if c.err != nil {
			return
		}
		c.dec, c.err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(n))
	})
	if c.err != nil {
		return fmt.Errorf("zstd: %w", c.err)
	}
	return nil
}

// Encode appends the compressed src to dst[:0].
func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	if err := c.init(); err != nil {
		return dst, err
	}
	return c.enc.EncodeAll(src, dst[:0]), nil
}

// Decode appends the decompressed src to dst[:0].
func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) {
	if err := c.init(); err != nil {
		return dst, err
	}
	out, err := c.dec.DecodeAll(src, dst[:0])
	if err != nil {
		return dst, fmt.Errorf("zstd: %w", err)
	}
	return out, nil
}

// FastCodec is Codec with zstd at its fastest level (about zstd's level 1
// where Codec's is about level 3): for files written in bulk (`scorer
// score`), where throughput matters more than the last bytes.
func FastCodec(name string) (compress.Codec, error) {
	if name == "zstd" {
		return &zstdCodec{level: zstd.SpeedFastest}, nil
	}
	return Codec(name)
}
