package filepub

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/parquet-go/parquet-go"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/loan"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/demo"
	"github.com/loan-scorer/loan-scorer/model/modelfile"
)

// TestPublishIdsAndDedup publishes a generated Parquet file twice: the
// first run stores one message per row with the documented id and a body
// the JSON decoder turns into the same features as the application; the
// second run, inside the dedup window, stores nothing.
func TestPublishIdsAndDedup(t *testing.T) {
	_, nc := testkit.StartNATS(t)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOANS", Subjects: []string{"loans.score"}, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	const n = 500
	g := loan.NewGenerator(3)
	apps := make([]loan.Application, n)
	path := filepath.Join(t.TempDir(), "loans.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[loan.Application](f)
	for i := range apps {
		apps[i] = g.Next()
	}
	if _, err := w.Write(apps); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	cfg := DefaultConfig()
	cfg.MaxPending = 64
	st, err := Publish(ctx, nc, path, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != n || st.Published != n || st.Duplicates != 0 || st.Failed != 0 {
		t.Fatalf("first run: %+v", st)
	}
	again, err := Publish(ctx, nc, path, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Rows != n || again.Published != 0 || again.Duplicates != n {
		t.Fatalf("second run: %+v", again)
	}
	s, _ := js.Stream(ctx, "LOANS")
	info, _ := s.Info(ctx)
	if info.State.Msgs != n {
		t.Fatalf("stream holds %d messages, want %d", info.State.Msgs, n)
	}

	mf, err := modelfile.Parse(demo.Name, demo.Bytes(), modelfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dec := ingest.NewDecoder(mf.Model.Schema(), ingest.DefaultSchemaConfig(), ingest.DefaultLimits())
	prefix, _ := IDPrefix(path)
	if len(prefix) != len("loans.parquet:")+13 {
		t.Errorf("prefix %q, want <basename>:<12 hex>:", prefix)
	}
	for _, row := range []int{0, 1, 250, n - 1} {
		m, err := s.GetMsg(ctx, uint64(row+1))
		if err != nil {
			t.Fatal(err)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); id != prefix+strconv.Itoa(row) {
			t.Errorf("row %d: id %q", row, id)
		}
		got := model.NewBatch(mf.Model.Schema(), 1)
		if err := dec.DecodeOne(m.Data, got); err != nil {
			t.Fatalf("row %d: %v: %s", row, err, m.Data)
		}
		want := model.NewBatch(mf.Model.Schema(), 1)
		if err := dec.DecodeOne(apps[row].AppendJSON(nil), want); err != nil {
			t.Fatal(err)
		}
		for i := range got.Floats {
			if got.Floats[i] != want.Floats[i] && !(got.Floats[i] != got.Floats[i] && want.Floats[i] != want.Floats[i]) {
				t.Errorf("row %d float %d: %v, want %v", row, i, got.Floats[i], want.Floats[i])
			}
		}
		for i := range got.Cats {
			if got.Cats[i] != want.Cats[i] {
				t.Errorf("row %d category %d: %q, want %q", row, i, got.Cats[i], want.Cats[i])
			}
		}
	}
}

// TestParquetNonFiniteValuesBecomeStrings: JSON numbers cannot hold NaN or
// the infinities; they travel as strings the scorer's decoder refuses as
// invalid_number, as NaN is refused on every other path (before, they
// became null and were scored as missing values).
func TestParquetNonFiniteValuesBecomeStrings(t *testing.T) {
	for v, want := range map[float64]string{math.NaN(): `"NaN"`, math.Inf(1): `"Infinity"`, math.Inf(-1): `"-Infinity"`, 1.5: `1.5`} {
		if got := string(appendValueJSON(nil, parquet.DoubleValue(v))); got != want {
			t.Errorf("%v: %s, want %s", v, got, want)
		}
		if got := string(appendValueJSON(nil, parquet.FloatValue(float32(v)))); got != want {
			t.Errorf("float32 %v: %s, want %s", v, got, want)
		}
	}
	s := &model.Schema{Features: []model.Feature{{Name: "x", Kind: model.Float}}, NumFloat: 1}
	dec := ingest.NewDecoder(s, ingest.DefaultSchemaConfig(), ingest.DefaultLimits())
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		body := append(append([]byte(`{"x":`), appendValueJSON(nil, parquet.DoubleValue(v))...), '}')
		var ie *ingest.InputError
		if err := dec.DecodeOne(body, model.NewBatch(s, 1)); !errors.As(err, &ie) || ie.Fields["x"] != ingest.FieldInvalidNumber {
			t.Errorf("%s: %v, want x: invalid_number", body, err)
		}
	}
}

// TestPublishRefusesCSV: CSV cells carry no types, so `scorer ingest` does
// not guess at them.
func TestPublishRefusesCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.csv")
	if err := os.WriteFile(path, []byte("x\n1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openRowSource(path); !errors.Is(err, ingest.ErrFileFormat) {
		t.Errorf("CSV: %v", err)
	}
}
