package worker

import (
	"fmt"
	"time"
)

// Config is the batch policy (configuration keys batch.*).
type Config struct {
	// MaxSize closes a batch when it holds this many rows (default 256). A
	// single job with more rows than MaxSize is scored as a batch of its own.
	MaxSize int `mapstructure:"max_size"`
	// MaxWait closes a batch this long after it took its first job, even
	// when it is not full (default 2ms). Time a job spent queued before does
	// not count, so a backlog still forms full batches. A batch closes
	// earlier, at once, when no other job is waiting and a scoring goroutine
	// is free.
	MaxWait time.Duration `mapstructure:"max_wait"`
	// Queue bounds the jobs waiting for a batch (default 4096).
	Queue int `mapstructure:"queue"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{MaxSize: 256, MaxWait: 2 * time.Millisecond, Queue: 4096}
}

// Validate reports the first invalid field, named by its configuration key.
func (c Config) Validate() error {
	switch {
	case c.MaxSize < 1:
		return fmt.Errorf("batch.max_size must be at least 1, got %d", c.MaxSize)
	case c.MaxWait < 0:
		return fmt.Errorf("batch.max_wait must not be negative, got %s", c.MaxWait)
	case c.Queue < 1:
		return fmt.Errorf("batch.queue must be at least 1, got %d", c.Queue)
	}
	return nil
}
