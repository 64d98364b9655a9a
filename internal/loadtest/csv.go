package loadtest

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"
)

// csvHeader names the columns WriteCSV writes: times in milliseconds, CPU
// in percent of one core.
var csvHeader = []string{"elapsed_s", "users", "requests", "failures", "rps", "failures_per_s",
	"p50_ms", "p95_ms", "p99_ms", "max_ms", "generator_cpu_pct"}

// WriteCSV writes one line per row under a header line (csvHeader's
// columns).
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("write csv header: %w", err)
	}
	rec := make([]string, len(csvHeader))
	for _, r := range rows {
		rec[0] = strconv.FormatFloat(r.Elapsed.Seconds(), 'f', 3, 64)
		rec[1] = strconv.Itoa(r.Users)
		rec[2] = strconv.FormatUint(r.Requests, 10)
		rec[3] = strconv.FormatUint(r.Failures, 10)
		rec[4] = strconv.FormatFloat(r.RPS, 'f', 2, 64)
		rec[5] = strconv.FormatFloat(r.FailuresPerSec, 'f', 2, 64)
		rec[6] = ms(r.P50)
		rec[7] = ms(r.P95)
		rec[8] = ms(r.P99)
		rec[9] = ms(r.Max)
		rec[10] = strconv.FormatFloat(r.CPU, 'f', 1, 64)
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv row: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// ms formats d in milliseconds with microsecond resolution.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}
