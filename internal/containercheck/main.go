// Command containercheck is the host-side half of scripts/container-test.sh:
// it talks to the compose stack only through the ports that stack publishes
// on the loopback interface, and reads the Parquet sink's files with
// arrow-go, a reader independent of the parquet-go writer the sink uses.
//
//	containercheck ports N                     N free loopback ports for the stack
//	containercheck score --nats URL --n N ...  publish N applications, check every result once
//	containercheck results --nats URL --at-least K  wait until LOANS_SCORED holds K, print the count
//	containercheck sync --nats URL --want P    the seed loan through loans.score.sync
//	containercheck workers --n N URL...        every worker scored, all N scored once
//	containercheck parquet --dir D --results F the files hold exactly the results in F
//
// Each exits 1 with the reason on stderr when a check fails.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/internal/testkit/arrowtest"
)

// Stream and subject names: the defaults the compose stack runs with.
const (
	inputStream   = "LOANS"
	resultsStream = "LOANS_SCORED"
	dlqStream     = "LOANS_DLQ"
	scoreSubject  = "loans.score"
	syncSubject   = "loans.score.sync"
)

// seedLoan is the seed's first example application (DESIGN.md, README).
const seedLoan = `{"Term":84,"NoEmp":5,"CreateJob":0,"RetainedJob":5,"longitude":-77.9221,"latitude":35.3664,"GrAppv":1500000.0,"SBA_Appv":1275000.0,"is_new":true,"FranchiseCode":"0","UrbanRural":1,"City":"Other","State":"NC","Bank":"BBCN BANK","BankState":"CA","RevLineCr":"N","naics_first_two":"45","same_state":false}`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: containercheck ports|score|results|sync|workers|parquet ...")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"ports": cmdPorts, "score": cmdScore, "results": cmdResults, "sync": cmdSync, "workers": cmdWorkers,
		"parquet": cmdParquet,
	}
	run, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "containercheck: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "containercheck %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// cmdPorts prints N distinct loopback ports that were free a moment ago,
// drawn below Linux's ephemeral range as internal/natstest.FreePort does.
func cmdPorts(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: ports N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > 100 {
		return fmt.Errorf("ports: N wants 1..100, got %q", args[0])
	}
	seen := map[int]bool{}
	for tries := 0; len(seen) < n; tries++ {
		if tries > 1000 {
			return errors.New("no free ports below the ephemeral range in 1000 tries")
		}
		port := 20000 + rand.IntN(12768)
		if seen[port] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ln.Close()
		seen[port] = true
		fmt.Println(port)
	}
	return nil
}

// result is what the checks keep of one stored result.
type result struct {
	Proba float64 `json:"default_proba"`
	Model string  `json:"model"`
}

func connect(url string, timeout time.Duration) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url, nats.Name("loan-scorer containercheck"), nats.Timeout(timeout),
		nats.RetryOnFailedConnect(false))
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// cmdScore publishes --n applications with ids PREFIX-0..PREFIX-(n-1) to
// loans.score, waits (at most --timeout) until LOANS_SCORED holds n results
// and the work queue is empty, reads every result back and checks that
// each id is stored exactly once, scored, with a Model header, and nothing
// else is there; the results go to --out as JSON for the Parquet check.
// --publish=false checks applications published earlier (by a run with
// --verify=false, which only publishes).
func cmdScore(args []string) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	url := fs.String("nats", "", "NATS URL")
	n := fs.Int("n", 3000, "applications to publish")
	prefix := fs.String("prefix", "ctest", "id prefix")
	out := fs.String("out", "", "write the results (id → proba, model) here as JSON")
	publish := fs.Bool("publish", true, "publish the applications")
	verify := fs.Bool("verify", true, "wait for the results and check them")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || *n < 1 {
		return errors.New("--nats and --n ≥ 1 are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	nc, js, err := connect(*url, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()

	start := time.Now()
	if *publish {
		pub := &testkit.Publisher{JS: js, Subject: scoreSubject, Prefix: *prefix, Parallel: 32}
		if err := pub.Run(ctx, *n); err != nil {
			return fmt.Errorf("publish: %d of %d acknowledged: %w", pub.Published(), *n, err)
		}
		fmt.Printf("published %d applications in %.2fs (%d publish retries)\n", *n, time.Since(start).Seconds(), pub.Retries())
	}
	if !*verify {
		return nil
	}
	for {
		scored := testkit.StreamMsgs(js, resultsStream)
		left := testkit.StreamMsgs(js, inputStream)
		if scored >= int64(*n) && left == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s holds %d of %d results, %s still holds %d: %w", resultsStream, scored, *n, inputStream, left, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	waited := time.Since(start)
	tally, err := testkit.ReadStream(ctx, js, resultsStream, false)
	if err != nil {
		return err
	}
	results, err := checkResults(*prefix, *n, tally)
	if err != nil {
		return err
	}
	if dl := testkit.StreamMsgs(js, dlqStream); dl != 0 {
		return fmt.Errorf("%s holds %d dead letters, want 0", dlqStream, dl)
	}
	if *out != "" {
		b, err := json.Marshal(results)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			return err
		}
	}
	rate := ""
	if *publish {
		rate = fmt.Sprintf(" (%.0f/s end to end)", float64(*n)/waited.Seconds())
	}
	fmt.Printf("%d results in %s after %.2fs%s: each id once, all scored by %s; %s empty, no dead letter\n",
		len(results), resultsStream, waited.Seconds(), rate, results[testkit.ID(*prefix, 0)].Model, inputStream)
	return nil
}

// cmdResults waits (at most --timeout) until LOANS_SCORED holds at least
// --at-least results and prints how many it holds.
func cmdResults(args []string) error {
	fs := flag.NewFlagSet("results", flag.ContinueOnError)
	url := fs.String("nats", "", "NATS URL")
	atLeast := fs.Int64("at-least", 0, "wait until the stream holds this many")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	nc, js, err := connect(*url, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	deadline := time.Now().Add(*timeout)
	for {
		got := testkit.StreamMsgs(js, resultsStream)
		if got >= *atLeast {
			fmt.Println(got)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s holds %d results, not %d, after %v", resultsStream, got, *atLeast, *timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkResults checks that the results stream holds exactly one scored
// result for each id prefix-0..prefix-(n-1), with a probability and a
// Model header, and nothing else.
func checkResults(prefix string, n int, t testkit.Tally) (map[string]result, error) {
	var errs []error
	if t.Total != n {
		errs = append(errs, fmt.Errorf("%s holds %d messages, want %d", resultsStream, t.Total, n))
	}
	if d := t.Duplicates(); len(d) > 0 {
		sort.Strings(d)
		errs = append(errs, fmt.Errorf("%d ids stored more than once, e.g. %s", len(d), d[0]))
	}
	want := make(map[string]bool, n)
	for i := range n {
		want[testkit.ID(prefix, i)] = true
	}
	var missing, extra, failed []string
	for id := range want {
		if t.Count[id] == 0 {
			missing = append(missing, id)
		}
	}
	out := make(map[string]result, n)
	for id, r := range t.Results {
		if !want[id] {
			extra = append(extra, id)
			continue
		}
		model := t.Headers[id].Get("Model")
		switch {
		case r.Error != nil:
			failed = append(failed, id+" ("+r.Error.Code+")")
		case r.Proba == nil || *r.Proba < 0 || *r.Proba > 1:
			failed = append(failed, id+" (no default_proba in [0, 1])")
		case model == "":
			failed = append(failed, id+" (no Model header)")
		default:
			out[id] = result{Proba: *r.Proba, Model: model}
		}
	}
	for what, ids := range map[string][]string{"missing": missing, "not published by this run": extra, "not scored": failed} {
		if len(ids) > 0 {
			sort.Strings(ids)
			errs = append(errs, fmt.Errorf("%d ids %s, e.g. %s", len(ids), what, ids[0]))
		}
	}
	return out, errors.Join(errs...)
}

// cmdSync sends the seed loan to loans.score.sync and checks the answer's
// default_proba against --want (the README's value for the demo model).
func cmdSync(args []string) error {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	url := fs.String("nats", "", "NATS URL")
	want := fs.Float64("want", 0, "expected default_proba")
	if err := fs.Parse(args); err != nil {
		return err
	}
	nc, _, err := connect(*url, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	msg, err := nc.Request(syncSubject, []byte(seedLoan), 5*time.Second)
	if err != nil {
		return fmt.Errorf("request %s: %w", syncSubject, err)
	}
	var r struct {
		Proba *float64 `json:"default_proba"`
		Model string   `json:"model"`
	}
	if err := json.Unmarshal(msg.Data, &r); err != nil || r.Proba == nil || *r.Proba != *want {
		return fmt.Errorf("%s answered %s, want default_proba %v", syncSubject, msg.Data, *want)
	}
	fmt.Printf("%s answered default_proba %v (model %s)\n", syncSubject, *r.Proba, r.Model)
	return nil
}

// cmdWorkers reads scorer_messages_total{outcome="scored"} from each
// worker's /metrics and checks that every worker scored some and that
// together they scored --n, no more (a message scored twice would show).
func cmdWorkers(args []string) error {
	fs := flag.NewFlagSet("workers", flag.ContinueOnError)
	n := fs.Int("n", 0, "messages scored in all")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		return errors.New("want the /metrics URLs of at least two workers")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	counts := make([]float64, fs.NArg())
	for i, u := range fs.Args() {
		resp, err := client.Get(u)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", u, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		if counts[i], err = scoredCount(string(body)); err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
	}
	if err := checkWorkers(counts, *n); err != nil {
		return err
	}
	parts := make([]string, len(counts))
	for i, c := range counts {
		parts[i] = strconv.FormatFloat(c, 'f', 0, 64)
	}
	fmt.Printf("scored per worker: %s (sum %d)\n", strings.Join(parts, " + "), *n)
	return nil
}

// scoredSeries is the async messages scored counter in Prometheus' text format.
const scoredSeries = `scorer_messages_total{outcome="scored"}`

// scoredCount returns the value of scoredSeries in a /metrics page; a page
// without it (nothing scored yet) counts 0.
func scoredCount(page string) (float64, error) {
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, scoredSeries+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", scoredSeries, err)
			}
			return f, nil
		}
	}
	return 0, nil
}

func checkWorkers(counts []float64, n int) error {
	sum := 0.0
	for i, c := range counts {
		if c <= 0 {
			return fmt.Errorf("worker %d scored nothing (counts %v): the work did not spread", i+1, counts)
		}
		sum += c
	}
	if sum != float64(n) {
		return fmt.Errorf("workers scored %v messages in all (counts %v), want %d", sum, counts, n)
	}
	return nil
}

// cmdParquet reads every scores-*.parquet file in --dir with arrow-go and
// checks that together they hold exactly the results in --results: each
// id once, its probability and model equal, scored_at set, error_code null.
func cmdParquet(args []string) error {
	fs := flag.NewFlagSet("parquet", flag.ContinueOnError)
	dir := fs.String("dir", "", "the sink's directory")
	resultsFile := fs.String("results", "", "the JSON written by score --out")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(*resultsFile)
	if err != nil {
		return err
	}
	var want map[string]result
	if err := json.Unmarshal(b, &want); err != nil {
		return fmt.Errorf("%s: %w", *resultsFile, err)
	}
	files, rows, err := checkParquet(*dir, want)
	if err != nil {
		return err
	}
	fmt.Printf("%d Parquet files hold %d rows read back with arrow-go: each result once, probabilities and models equal to %s\n",
		files, rows, resultsStream)
	return nil
}

func checkParquet(dir string, want map[string]result) (files, rows int, err error) {
	paths, err := filepath.Glob(filepath.Join(dir, "scores-*.parquet"))
	if err != nil {
		return 0, 0, err
	}
	if len(paths) == 0 {
		return 0, 0, fmt.Errorf("no scores-*.parquet in %s", dir)
	}
	seen := make(map[string]int, len(want))
	var errs []error
	bad := func(format string, a ...any) {
		if len(errs) < 10 {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	for _, p := range paths {
		t, err := arrowtest.ReadErr(p)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", p, err)
		}
		for _, col := range []string{"id", "default_proba", "model", "scored_at", "error_code"} {
			if len(t.Cols[col]) != t.Rows {
				return 0, 0, fmt.Errorf("%s: column %s has %d values for %d rows", p, col, len(t.Cols[col]), t.Rows)
			}
		}
		for r := range t.Rows {
			id, _ := t.Cols["id"][r].(string)
			seen[id]++
			w, ok := want[id]
			switch {
			case !ok:
				bad("%s row %d: id %q is not one of the results", filepath.Base(p), r, id)
			case t.Cols["default_proba"][r] != w.Proba:
				bad("%s row %d (%s): default_proba %v, the stream holds %v", filepath.Base(p), r, id, t.Cols["default_proba"][r], w.Proba)
			case t.Cols["model"][r] != w.Model:
				bad("%s row %d (%s): model %v, the stream holds %s", filepath.Base(p), r, id, t.Cols["model"][r], w.Model)
			case t.Cols["error_code"][r] != nil:
				bad("%s row %d (%s): error_code %v, want null", filepath.Base(p), r, id, t.Cols["error_code"][r])
			case t.Cols["scored_at"][r] == nil:
				bad("%s row %d (%s): scored_at is null", filepath.Base(p), r, id)
			}
		}
		rows += t.Rows
	}
	for id := range want {
		switch c := seen[id]; {
		case c == 0:
			bad("result %s is in no file", id)
		case c > 1:
			bad("result %s is in the files %d times", id, c)
		}
	}
	if rows != len(want) {
		bad("the files hold %d rows, want %d", rows, len(want))
	}
	return len(paths), rows, errors.Join(errs...)
}
