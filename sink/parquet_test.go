package sink

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
)

// resultsStream creates LOANS_SCORED on loans.scored, as ingest.Setup does.
func resultsStream(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOANS_SCORED", Subjects: []string{"loans.scored"}, Duplicates: time.Minute}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
}

// testResult is what publishResults sent for one id.
type testResult struct {
	proba    float64
	hasProba bool
	code     string
	scoredAt time.Time
}

// publishResults publishes n results shaped like the publisher's: every
// seventh is an error result, the others carry default_proba i/n.
func publishResults(t *testing.T, js jetstream.JetStream, from, n int, want map[string]testResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("app-%05d", i)
		at := base.Add(time.Duration(i) * time.Millisecond)
		h := nats.Header{}
		h.Set(HeaderMsgID, id)
		h.Set(HeaderScoredAt, at.Format(ScoredAtLayout))
		var body []byte
		r := testResult{scoredAt: at}
		if i%7 == 3 {
			r.code = "invalid_input"
			h.Set(HeaderErrorCode, r.code)
			body = AppendError(nil, id, r.code, "Term: missing", map[string]string{"Term": "missing"})
		} else {
			r.proba, r.hasProba = float64(i)/float64(from+n), true
			h.Set(HeaderModel, "loan-demo@0123456789ab")
			body = fmt.Appendf(nil, `{"id":%q,"default_proba":%s,"model":"loan-demo@0123456789ab"}`, id, AppendFloat(nil, r.proba))
		}
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "loans.scored", Header: h, Data: body}); err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
		want[id] = r
	}
}

// readDir reads every committed file of dir with arrow-go and returns the
// rows by id, failing on an id seen twice.
func readDir(t *testing.T, dir string) (rows map[string]testResult, files []string) {
	t.Helper()
	rows = map[string]testResult{}
	paths, _ := filepath.Glob(filepath.Join(dir, "scores-*.parquet"))
	sort.Strings(paths)
	for _, p := range paths {
		tbl := arrowtest.Read(t, p)
		checkSinkSchema(t, p, tbl)
		first, last, ok := ParseFileName(filepath.Base(p))
		if !ok || int(last-first+1) != tbl.Rows {
			t.Errorf("%s: name says %d..%d but holds %d rows", filepath.Base(p), first, last, tbl.Rows)
		}
		for i := range tbl.Rows {
			id := tbl.Cols["id"][i].(string)
			if _, dup := rows[id]; dup {
				t.Errorf("%s: id %s is in more than one row", filepath.Base(p), id)
			}
			r := testResult{scoredAt: tbl.Cols["scored_at"][i].(time.Time)}
			if v := tbl.Cols["default_proba"][i]; v != nil {
				r.proba, r.hasProba = v.(float64), true
			}
			if v := tbl.Cols["error_code"][i]; v != nil {
				r.code = v.(string)
			}
			rows[id] = r
		}
		files = append(files, filepath.Base(p))
	}
	return rows, files
}

func checkSinkSchema(t *testing.T, path string, tbl *arrowtest.Table) {
	t.Helper()
	want := []arrowtest.Field{
		{Name: "id", Type: "utf8"},
		{Name: "default_proba", Type: "float64", Nullable: true},
		{Name: "model", Type: "utf8", Nullable: true},
		{Name: "scored_at", Type: "timestamp[ms, tz=UTC]"},
		{Name: "error_code", Type: "utf8", Nullable: true},
	}
	if !slices.Equal(tbl.Fields, want) {
		t.Errorf("%s: schema %+v, want %+v", filepath.Base(path), tbl.Fields, want)
	}
	if !slices.Equal(tbl.Codecs, []string{"ZSTD"}) {
		t.Errorf("%s: codecs %v, want [ZSTD]", filepath.Base(path), tbl.Codecs)
	}
	if slices.Contains(tbl.PageTypes, "DATA_PAGE_V2") || !slices.Contains(tbl.PageTypes, "DATA_PAGE") {
		t.Errorf("%s: page types %v, want data page v1 only", filepath.Base(path), tbl.PageTypes)
	}
}

func compareResults(t *testing.T, got, want map[string]testResult) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("files hold %d ids, published %d", len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			t.Errorf("id %s missing from the files", id)
		case g.hasProba != w.hasProba || g.proba != w.proba || g.code != w.code || !g.scoredAt.Equal(w.scoredAt):
			t.Errorf("id %s: got %+v, want %+v", id, g, w)
		}
	}
}

// runSink runs a sink in the background and returns its stop function,
// which returns Run's error.
func runSink(t *testing.T, js jetstream.JetStream, cfg ParquetConfig, opts ParquetOptions) (stop func() error) {
	t.Helper()
	s, err := NewParquet(js, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunOnce(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func countRows(dir string) int {
	n := 0
	paths, _ := filepath.Glob(filepath.Join(dir, "scores-*.parquet"))
	for _, p := range paths {
		if first, last, ok := ParseFileName(filepath.Base(p)); ok {
			n += int(last - first + 1)
		}
	}
	return n
}

func TestParquetSinkWritesEveryResultOnceAcrossRestarts(t *testing.T) {
	t.Parallel()
	_, nc := testkit.StartNATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	resultsStream(t, js)
	dir := t.TempDir()
	cfg := testParquetConfig()
	cfg.Dir, cfg.MaxRows, cfg.RowGroupRows, cfg.FetchBatch = dir, 40, 16, 25
	// A short max_age closes the tail files of each run without a stop.
	cfg.MaxAge = 300 * time.Millisecond

	want := map[string]testResult{}
	publishResults(t, js, 0, 130, want)
	stop := runSink(t, js, cfg, ParquetOptions{})
	// 130 results in files of 40: three full files are committed on count.
	testkit.Eventually(t, 20*time.Second, "three files of 40 rows", func() bool { return countRows(dir) == 120 })
	// Stopping commits the open file with what was handled of the last 10
	// (the rest, buffered or in flight, comes again after the restart).
	if err := stop(); err != nil {
		t.Fatalf("sink stopped with %v", err)
	}
	if n := countRows(dir); n < 120 || n > 130 {
		t.Fatalf("after stop the files hold %d rows, want 120..130", n)
	}
	// A restart resumes after the committed sequence: nothing is written twice.
	publishResults(t, js, 130, 50, want)
	stop = runSink(t, js, cfg, ParquetOptions{})
	testkit.Eventually(t, 20*time.Second, "at least 160 rows", func() bool { return countRows(dir) >= 160 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := countRows(dir); n != 180 {
		// Whatever the second stop left in flight, a third run finishes it.
		stop = runSink(t, js, cfg, ParquetOptions{})
		testkit.Eventually(t, 20*time.Second, "all 180 rows", func() bool { return countRows(dir) == 180 })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	got, files := readDir(t, dir)
	compareResults(t, got, want)
	// The files tile the sequences 1..180 without a gap or an overlap.
	var next uint64 = 1
	for _, f := range files {
		first, last, _ := ParseFileName(f)
		if first != next || last-first+1 > 40 {
			t.Errorf("files %v do not tile 1..180 in files of at most 40", files)
			break
		}
		next = last + 1
	}
	for _, f := range files {
		tbl := arrowtest.Read(t, filepath.Join(dir, f))
		for _, n := range tbl.RowGroups {
			if n > 16 {
				t.Errorf("%s: row group of %d rows, want at most row_group_rows=16", f, n)
			}
		}
	}
}

func TestParquetSinkRotatesByAge(t *testing.T) {
	t.Parallel()
	_, nc := testkit.StartNATS(t)
	js, _ := jetstream.New(nc)
	resultsStream(t, js)
	dir := t.TempDir()
	cfg := testParquetConfig()
	cfg.Dir, cfg.MaxAge = dir, 200*time.Millisecond
	want := map[string]testResult{}
	publishResults(t, js, 0, 5, want)
	var mu sync.Mutex
	var committed []int
	runSink(t, js, cfg, ParquetOptions{Committed: func(_ string, rows int) {
		mu.Lock()
		committed = append(committed, rows)
		mu.Unlock()
	}})
	// max_rows is 100,000: only max_age can close the file.
	testkit.Eventually(t, 20*time.Second, "a file closed by age", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(committed) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(committed, []int{5}) {
		t.Errorf("committed %v, want one file of 5", committed)
	}
	got, _ := readDir(t, dir)
	compareResults(t, got, want)
}

func TestParquetSinkRemovesStaleTemporaryFiles(t *testing.T) {
	t.Parallel()
	_, nc := testkit.StartNATS(t)
	js, _ := jetstream.New(nc)
	resultsStream(t, js)
	dir := t.TempDir()
	stale := filepath.Join(dir, tmpPrefix+"00000000000000000001-123"+tmpSuffix)
	if err := os.WriteFile(stale, []byte("half a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A committed file of seqs 1..3 (its content does not matter here):
	// the sink must start at 4.
	if err := os.WriteFile(filepath.Join(dir, FileName(1, 3)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want := map[string]testResult{}
	publishResults(t, js, 0, 6, want)
	cfg := testParquetConfig()
	cfg.Dir, cfg.MaxRows = dir, 3
	runSink(t, js, cfg, ParquetOptions{})
	testkit.Eventually(t, 20*time.Second, "seqs 4..6 written", func() bool {
		_, err := os.Stat(filepath.Join(dir, FileName(4, 6)))
		return err == nil
	})
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	tbl := arrowtest.Read(t, filepath.Join(dir, FileName(4, 6)))
	ids := []string{}
	for _, v := range tbl.Cols["id"] {
		ids = append(ids, v.(string))
	}
	if !slices.Equal(ids, []string{"app-00003", "app-00004", "app-00005"}) {
		t.Errorf("file 4..6 holds %v", ids)
	}
}

func TestParquetSinkOnePerDirectory(t *testing.T) {
	t.Parallel()
	_, nc := testkit.StartNATS(t)
	js, _ := jetstream.New(nc)
	resultsStream(t, js)
	dir := t.TempDir()
	cfg := testParquetConfig()
	cfg.Dir = dir
	runSink(t, js, cfg, ParquetOptions{})
	lockHeld := func() bool {
		_, err := os.Stat(filepath.Join(dir, lockName))
		return err == nil
	}
	testkit.Eventually(t, 10*time.Second, "first sink running", lockHeld)
	second, err := NewParquet(js, cfg, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The first sink may still be between lock and consumer: either way
	// the second must be refused by the lock.
	testkit.Eventually(t, 10*time.Second, "second sink refused", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return errors.Is(second.RunOnce(ctx), ErrSinkLocked)
	})
}

func TestParseRecordKinds(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	tests := []struct {
		name, body string
		kind       valueKind
		has        bool
		scalar     float64
		list       []float64
		code       string
	}{
		{"proba", `{"id":"a","default_proba":0.25,"model":"m"}`, kindProba, true, 0.25, nil, ""},
		{"proba NaN as null", `{"id":"a","default_proba":null,"model":"m"}`, kindProba, false, 0, nil, ""},
		{"prediction", `{"id":"a","prediction":-1.5,"model":"m"}`, kindPrediction, true, -1.5, nil, ""},
		{"prediction list", `{"id":"a","prediction":[1,2],"model":"m"}`, kindPredictionList, true, 0, []float64{1, 2}, ""},
		{"probabilities", `{"id":"a","probabilities":[0.2,0.8],"model":"m"}`, kindProbabilities, true, 0, []float64{0.2, 0.8}, ""},
		{"error", `{"id":"a","error":{"code":"invalid_input","message":"x"}}`, kindProba, false, 0, nil, "invalid_input"},
		{"not a result", `<html>`, kindProba, false, 0, nil, codeInvalidResult},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := parseRecord([]byte(tc.body), "", "", at.Format(ScoredAtLayout), "", time.Time{})
			if r.kind != tc.kind || r.hasValue != tc.has || r.scalar != tc.scalar || !slices.Equal(r.list, tc.list) || r.errorCode != tc.code {
				t.Errorf("got %+v", r)
			}
			if !r.scoredAt.Equal(at) {
				t.Errorf("scored_at %v, want %v", r.scoredAt, at)
			}
		})
	}
}

func TestParquetConfigValidate(t *testing.T) {
	t.Parallel()
	if err := DefaultParquetConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		key    string
		mutate func(*ParquetConfig)
	}{
		{"sink.parquet.max_rows", func(c *ParquetConfig) { c.MaxRows = 0 }},
		{"sink.parquet.max_age", func(c *ParquetConfig) { c.MaxAge = 0 }},
		{"sink.parquet.row_group_rows", func(c *ParquetConfig) { c.RowGroupRows = 0 }},
		{"sink.parquet.compression", func(c *ParquetConfig) { c.Compression = "lz4" }},
		{"sink.parquet.ack_wait", func(c *ParquetConfig) { c.AckWait = c.MaxAge }},
	}
	for _, tc := range tests {
		c := DefaultParquetConfig()
		tc.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: error %v does not name the key", tc.key, err)
		}
	}
}

func TestFileNamesSortInStreamOrder(t *testing.T) {
	t.Parallel()
	names := []string{FileName(10, 19), FileName(2, 9), FileName(math.MaxUint64-1, math.MaxUint64), FileName(1, 1)}
	sort.Strings(names)
	var prev uint64
	for _, n := range names {
		first, last, ok := ParseFileName(n)
		if !ok || first <= prev {
			t.Fatalf("%v not in stream order", names)
		}
		prev = last
	}
	for _, bad := range []string{"scores-1.parquet", "scores-5-4.parquet", "scores-0-4.parquet", "x-1-2.parquet", "scores-a-2.parquet"} {
		if _, _, ok := ParseFileName(bad); ok {
			t.Errorf("ParseFileName(%q) accepted", bad)
		}
	}
}

func TestParquetSinkRefusesAStreamBehindItsFiles(t *testing.T) {
	t.Parallel()
	_, nc := testkit.StartNATS(t)
	js, _ := jetstream.New(nc)
	resultsStream(t, js)
	dir := t.TempDir()
	// Files up to sequence 10, but the stream holds 3 messages: it was
	// recreated, and new results 4..10 would be skipped as committed.
	if err := os.WriteFile(filepath.Join(dir, FileName(1, 10)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	publishResults(t, js, 0, 3, map[string]testResult{})
	cfg := testParquetConfig()
	cfg.Dir = dir
	s, err := NewParquet(js, cfg, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Serve does not retry it: no restart mends a stream behind the files.
	if err := s.Serve(ctx); !errors.Is(err, ErrStreamBehind) {
		t.Fatalf("Serve: %v, want ErrStreamBehind", err)
	}
	if ctx.Err() != nil || s.Restarts() != 0 {
		t.Errorf("Serve retried a stream behind the files (%d restarts)", s.Restarts())
	}
}

// TestParquetSinkOtherModelKinds writes results of a multiclass model
// (probabilities, a list) and then of a regressor (prediction): a change of
// kind starts a new file, each typed for its kind.
func TestParquetSinkOtherModelKinds(t *testing.T) {
	t.Parallel()
	_, nc := testkit.StartNATS(t)
	js, _ := jetstream.New(nc)
	resultsStream(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bodies := []string{
		`{"id":"m1","probabilities":[0.1,0.2,0.7],"model":"iris@aaaaaaaaaaaa"}`,
		`{"id":"m2","probabilities":[0.5,0.25,0.25],"model":"iris@aaaaaaaaaaaa"}`,
		`{"id":"r1","prediction":12.5,"model":"price@bbbbbbbbbbbb"}`,
	}
	for i, b := range bodies {
		h := nats.Header{}
		h.Set(HeaderMsgID, fmt.Sprintf("k%d", i))
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "loans.scored", Header: h, Data: []byte(b)}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	cfg := testParquetConfig()
	cfg.Dir, cfg.MaxAge = dir, 200*time.Millisecond
	runSink(t, js, cfg, ParquetOptions{})
	testkit.Eventually(t, 20*time.Second, "both files", func() bool { return countRows(dir) == 3 })
	multi := arrowtest.Read(t, filepath.Join(dir, FileName(1, 2)))
	if f := multi.Fields[1]; f.Name != "probabilities" || !strings.HasPrefix(f.Type, "list<") || !strings.Contains(f.Type, "float64") {
		t.Errorf("multiclass file: field %+v", f)
	}
	if got := multi.Cols["probabilities"][0]; !slices.Equal(got.([]float64), []float64{0.1, 0.2, 0.7}) {
		t.Errorf("probabilities %v", got)
	}
	reg := arrowtest.Read(t, filepath.Join(dir, FileName(3, 3)))
	if f := reg.Fields[1]; f.Name != "prediction" || f.Type != "float64" {
		t.Errorf("regression file: field %+v", f)
	}
	if got := reg.Cols["prediction"][0]; got != 12.5 {
		t.Errorf("prediction %v", got)
	}
}

// TestParquetSinkPassesItsCrashPoints checks the hook the exactly-once
// tests end the process with: a commit passes every crash point, in order.
func TestParquetSinkPassesItsCrashPoints(t *testing.T) {
	t.Parallel()
	_, nc := testkit.StartNATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	resultsStream(t, js)
	publishResults(t, js, 0, 3, map[string]testResult{})
	var mu sync.Mutex
	var passed []string
	cfg := testParquetConfig()
	cfg.Dir, cfg.MaxRows, cfg.MaxAge = t.TempDir(), 3, time.Minute
	p, err := NewParquet(js, cfg, ParquetOptions{Crash: func(point string) {
		mu.Lock()
		passed = append(passed, point)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	testkit.Eventually(t, 30*time.Second, "one file committed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(passed) >= 3
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(passed[:3], CrashPoints()) {
		t.Fatalf("crash points passed %v, want %v", passed, CrashPoints())
	}
}

// testParquetConfig is DefaultParquetConfig reading testResultsStream (the
// service sets results.stream).
func testParquetConfig() ParquetConfig {
	c := DefaultParquetConfig()
	c.Stream = testResultsStream
	return c
}
