package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/internal/loadtest"
)

// benchTarget holds the flags that choose and reach a target, shared by
// the bench subcommands.
type benchTarget struct {
	target  string
	url     string
	sync    string
	async   string
	results string
	timeout time.Duration
	bodies  string
	seed    uint64
	fs      *pflag.FlagSet // --config and the connection flags (clientFlags)
}

func (b *benchTarget) add(fs *pflag.FlagSet, targets string) {
	fs.StringVar(&b.target, "target", "http", "what to measure: "+targets)
	fs.StringVar(&b.url, "url", "http://127.0.0.1:8989/predict", "HTTP target: the /predict URL (a bare host:port URL gets /predict)")
	subjects := ingest.DefaultTopology().Subjects
	fs.StringVar(&b.sync, "subject", subjects.Sync, "nats target: the sync request subject")
	fs.StringVar(&b.async, "async-subject", subjects.Score, "async target: the JetStream input subject")
	fs.StringVar(&b.results, "results", subjects.Results, "async target: the results base subject (results arrive on <results>.<id>)")
	fs.DurationVar(&b.timeout, "timeout", 10*time.Second, "bound of one request; later counts as a failure")
	fs.StringVar(&b.bodies, "bodies", "generated", "request bodies: generated (loan applications from --seed) or seed (the seed's two examples)")
	fs.Uint64Var(&b.seed, "seed", 1, "generator seed of --bodies generated")
	addClientFlags(fs)
	b.fs = fs
}

// requestBodies returns the bodies --bodies asks for.
func (b *benchTarget) requestBodies() ([][]byte, error) {
	switch b.bodies {
	case "generated":
		return loadtest.Generated(b.seed, 4096), nil
	case "seed":
		return loadtest.SeedExamples(), nil
	}
	return nil, fmt.Errorf("--bodies %q: want generated or seed", b.bodies)
}

// predictURL completes a base URL to its /predict endpoint.
func predictURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--url %q: want an http(s) URL", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/predict"
	}
	return u.String(), nil
}

// open returns the target, a description of it and a function releasing
// it. users sizes the HTTP connection pool.
func (b *benchTarget) open(users int) (loadtest.Target, string, func(), error) {
	if b.target == "http" {
		u, err := predictURL(b.url)
		if err != nil {
			return nil, "", nil, err
		}
		h := loadtest.NewHTTP(u, max(users, 2))
		return h, "POST " + u, h.Close, nil
	}
	if b.target != "nats" && b.target != "async" {
		return nil, "", nil, fmt.Errorf("--target %q: want http, nats or async", b.target)
	}
	cfg, nc, err := clientConn(b.fs, "scorer bench", io.Discard)
	if err != nil {
		return nil, "", nil, err
	}
	// Subjects not given as flags are the configuration's, as serve uses them.
	if !b.fs.Changed("subject") {
		b.sync = cfg.Subjects.Sync
	}
	if !b.fs.Changed("async-subject") {
		b.async = cfg.Subjects.Score
	}
	if !b.fs.Changed("results") {
		b.results = cfg.Subjects.Results
	}
	if b.target == "nats" {
		return loadtest.NewNATSSync(nc, b.sync), "NATS request " + b.sync, nc.Close, nil
	}
	a, err := loadtest.NewAsync(nc, b.async, b.results, loadtest.NewRunID("bench"))
	if err != nil {
		nc.Close()
		return nil, "", nil, err
	}
	return a, "JetStream " + b.async + " → " + b.results, func() { a.Close(); nc.Close() }, nil
}

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a running scorer: sequential latency, Locust-style load, async throughput",
		Long: `bench measures a running scorer (scorer serve) over HTTP POST /predict, the NATS
sync subject or the JetStream async path, with generated loan applications or
the seed's two examples. Every run is bounded in requests or time.`,
	}
	cmd.AddCommand(newBenchLatencyCmd(), newBenchLoadCmd(), newBenchAsyncCmd())
	return cmd
}

func newBenchLatencyCmd() *cobra.Command {
	var bt benchTarget
	var n int
	cmd := &cobra.Command{
		Use:   "latency [--target nats|http] [--n 1000] [--url URL]",
		Short: "Send N requests one after the other; print median, p95, p99 and max",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if bt.target == "async" {
				return errors.New("--target async: use scorer bench async for the async path")
			}
			bodies, err := bt.requestBodies()
			if err != nil {
				return err
			}
			t, desc, release, err := bt.open(1)
			if err != nil {
				return err
			}
			defer release()
			res, err := loadtest.RunLatency(cmd.Context(), t, bodies, n, bt.timeout)
			printLatency(cmd.OutOrStdout(), desc, res)
			if err != nil {
				return fmt.Errorf("latency run: %w", err)
			}
			if res.FirstError != nil {
				return fmt.Errorf("%d of %d requests failed, first: %w", res.Failures, res.Requests, res.FirstError)
			}
			return nil
		},
	}
	bt.add(cmd.Flags(), "http or nats")
	cmd.Flags().IntVar(&n, "n", 1000, "number of sequential requests")
	return cmd
}

func printLatency(w io.Writer, desc string, r loadtest.LatencyResult) {
	fmt.Fprintf(w, "%d requests to %s in %s, %d failed\n", r.Requests, desc, r.Elapsed.Round(time.Millisecond), r.Failures)
	if r.Requests == r.Failures {
		return
	}
	fmt.Fprintf(w, "median: %8.3f ms\np95:    %8.3f ms\np99:    %8.3f ms\nmax:    %8.3f ms\nmean:   %8.3f ms\n",
		msOf(r.Median), msOf(r.P95), msOf(r.P99), msOf(r.Max), msOf(r.Mean))
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// loadFlags are the flags of scorer bench load beyond the target's.
type loadFlags struct {
	cfg       loadtest.LoadConfig
	asFast    bool
	csvPath   string
	htmlPath  string
	jsonPath  string
	quiet     bool
	cpuBound  float64
	noteLines []string
}

func newBenchLoadCmd() *cobra.Command {
	var bt benchTarget
	lf := loadFlags{cfg: loadtest.DefaultLoadConfig()}
	cmd := &cobra.Command{
		Use:   "load [--target nats|http|async] --users U --spawn-rate R --duration D [--rate-per-user X | --max]",
		Short: "Locust-style load: users spawned at a rate, per-second rps, percentiles and failures",
		Long: `load starts --users simulated users at --spawn-rate per second; each sends a request,
waits for the answer, then waits so that it makes --rate-per-user requests per
second (Locust's constant_throughput), or sends the next at once with --max. Every
second it prints users, rps, p50/p95/p99 and failures; it stops after --duration.

With --until-break it holds --users for --hold, then keeps adding users at
--ramp-rate (default --spawn-rate) until --break-seconds intervals in a row have a p95 above
--break-p95 or failures, and reports that load. A breaking point only counts
while the load generator itself stays under --cpu-bound percent of a core.

--csv and --html write the per-second rows and a self-contained report.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lf.asFast {
				lf.cfg.RatePerUser = 0
			}
			if err := lf.cfg.Validate(); err != nil {
				return err
			}
			bodies, err := bt.requestBodies()
			if err != nil {
				return err
			}
			users := lf.cfg.Users
			if lf.cfg.UntilBreak {
				users = lf.cfg.MaxUsers
			}
			t, desc, release, err := bt.open(min(users, 4096))
			if err != nil {
				return err
			}
			defer release()
			return runLoad(cmd.Context(), cmd.OutOrStdout(), t, desc, bodies, lf)
		},
	}
	bt.add(cmd.Flags(), "http, nats or async")
	f := cmd.Flags()
	c := &lf.cfg
	f.IntVar(&c.Users, "users", c.Users, "number of simulated users")
	f.Float64Var(&c.SpawnRate, "spawn-rate", c.SpawnRate, "users started per second")
	f.DurationVar(&c.Duration, "duration", c.Duration, "bound of the whole run")
	f.Float64Var(&c.RatePerUser, "rate-per-user", c.RatePerUser, "requests per second of each user")
	f.BoolVar(&lf.asFast, "max", false, "each user sends as fast as it gets answers")
	f.DurationVar(&c.Interval, "interval", c.Interval, "statistics interval")
	f.BoolVar(&c.UntilBreak, "until-break", false, "after --hold at --users, add users at --spawn-rate until the scorer breaks")
	f.DurationVar(&c.Hold, "hold", c.Hold, "with --until-break: time at --users before ramping on")
	f.Float64Var(&c.RampRate, "ramp-rate", c.RampRate, "with --until-break: users started per second after --hold (0: --spawn-rate)")
	f.IntVar(&c.MaxUsers, "max-users", c.MaxUsers, "with --until-break: most users to ramp to")
	f.DurationVar(&c.BreakP95, "break-p95", c.BreakP95, "with --until-break: the p95 latency that counts as broken")
	f.IntVar(&c.BreakSeconds, "break-seconds", c.BreakSeconds, "with --until-break: bad intervals in a row that make a break")
	f.Float64Var(&lf.cpuBound, "cpu-bound", 80, "generator CPU (percent of one core) above which results are generator-bound")
	f.StringVar(&lf.csvPath, "csv", "", "write the per-interval rows to this CSV file")
	f.StringVar(&lf.htmlPath, "html", "", "write a self-contained HTML report to this file")
	f.StringVar(&lf.jsonPath, "json", "", "write the run's summary as JSON to this file")
	f.StringArrayVar(&lf.noteLines, "note", nil, "a line to show in the HTML report (repeatable)")
	f.BoolVarP(&lf.quiet, "quiet", "q", false, "print only the summary")
	cmd.MarkFlagsMutuallyExclusive("rate-per-user", "max")
	return cmd
}

// runLoad runs the load, prints rows and the summary, and writes the files.
func runLoad(ctx context.Context, w io.Writer, t loadtest.Target, desc string, bodies [][]byte, lf loadFlags) error {
	c := lf.cfg
	rate := "as fast as possible"
	if c.RatePerUser > 0 {
		rate = fmt.Sprintf("%g req/s each", c.RatePerUser)
	}
	fmt.Fprintf(w, "load on %s: %d users at %g/s, %s, for at most %s (GOMAXPROCS %d)\n", desc, c.Users, c.SpawnRate, rate, c.Duration, runtime.GOMAXPROCS(0))
	if !lf.quiet {
		fmt.Fprintf(w, "%8s %6s %9s %9s %9s %9s %9s %7s %6s\n", "time", "users", "rps", "p50 ms", "p95 ms", "p99 ms", "max ms", "fails", "cpu%")
	}
	started := time.Now()
	res, err := loadtest.RunLoad(ctx, t, bodies, c, func(r loadtest.Row) {
		if lf.quiet {
			return
		}
		if r.Requests == r.Failures { // no latency to show
			fmt.Fprintf(w, "%7.1fs %6d %9.1f %9s %9s %9s %9s %7d %6.0f\n", r.Elapsed.Seconds(), r.Users, r.RPS, "-", "-", "-", "-", r.Failures, r.CPU)
			return
		}
		fmt.Fprintf(w, "%7.1fs %6d %9.1f %9.3f %9.3f %9.3f %9.3f %7d %6.0f\n", r.Elapsed.Seconds(), r.Users, r.RPS,
			msOf(r.P50), msOf(r.P95), msOf(r.P99), msOf(r.Max), r.Failures, r.CPU)
	})
	if res == nil {
		return fmt.Errorf("load run: %w", err)
	}
	sum := newLoadSummary(desc, c, res, lf.cpuBound)
	sum.print(w)
	if werr := writeLoadFiles(lf, desc, started, res, sum); werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("load run: %w", err)
	}
	if res.Total.Failures == res.Total.Requests {
		return fmt.Errorf("load run: all %d requests failed, first: %w", res.Total.Requests, res.FirstError)
	}
	return nil
}

// loadSummary is the JSON summary (--json) of a load run.
type loadSummary struct {
	Target         string  `json:"target"`
	Users          int     `json:"users"`
	SpawnRate      float64 `json:"spawn_rate"`
	RatePerUser    float64 `json:"rate_per_user"`
	Requests       uint64  `json:"requests"`
	Failures       uint64  `json:"failures"`
	SteadyRequests uint64  `json:"steady_requests"`
	SteadyRPS      float64 `json:"steady_rps"`
	SteadyP50Ms    float64 `json:"steady_p50_ms"`
	SteadyP95Ms    float64 `json:"steady_p95_ms"`
	SteadyP99Ms    float64 `json:"steady_p99_ms"`
	MaxRPS         float64 `json:"max_rps"`
	MaxUsers       int     `json:"max_users"`
	MaxCPU         float64 `json:"max_generator_cpu_pct"`
	GeneratorBound bool    `json:"generator_bound"`
	BreakUsers     int     `json:"break_users,omitempty"`
	BreakRPS       float64 `json:"break_rps,omitempty"`
	BreakReason    string  `json:"break_reason,omitempty"`
	LastGoodUsers  int     `json:"last_good_users,omitempty"`
	LastGoodRPS    float64 `json:"last_good_rps,omitempty"`
	FirstError     string  `json:"first_error,omitempty"`
}

func newLoadSummary(desc string, c loadtest.LoadConfig, r *loadtest.LoadResult, cpuBound float64) loadSummary {
	s := loadSummary{
		Target: desc, Users: c.Users, SpawnRate: c.SpawnRate, RatePerUser: c.RatePerUser,
		Requests: r.Total.Requests, Failures: r.Total.Failures,
		SteadyRequests: r.Steady.Requests, SteadyRPS: r.Steady.RPS,
		SteadyP50Ms: msOf(r.Steady.P50), SteadyP95Ms: msOf(r.Steady.P95), SteadyP99Ms: msOf(r.Steady.P99),
		MaxRPS: r.MaxRPS, MaxUsers: r.MaxUsers, MaxCPU: r.MaxCPU, GeneratorBound: r.GeneratorBound(cpuBound),
	}
	if b := r.Break; b != nil {
		s.BreakUsers, s.BreakRPS, s.BreakReason = b.At.Users, b.At.RPS, b.Reason
		s.LastGoodUsers, s.LastGoodRPS = b.LastGood.Users, b.LastGood.RPS
	}
	if r.FirstError != nil {
		s.FirstError = r.FirstError.Error()
	}
	return s
}

func (s loadSummary) print(w io.Writer) {
	fmt.Fprintf(w, "requests %d, failures %d\n", s.Requests, s.Failures)
	if s.SteadyRequests > 0 {
		fmt.Fprintf(w, "at %d users: %.1f rps, median %.3f ms, p95 %.3f ms, p99 %.3f ms\n", s.Users, s.SteadyRPS, s.SteadyP50Ms, s.SteadyP95Ms, s.SteadyP99Ms)
	}
	fmt.Fprintf(w, "max rps %.1f, max users %d, generator CPU up to %.0f%% of a core\n", s.MaxRPS, s.MaxUsers, s.MaxCPU)
	switch {
	case s.BreakUsers > 0 && s.GeneratorBound:
		fmt.Fprintf(w, "breaking point: > %d users, generator-bound (%s at %d users)\n", s.LastGoodUsers, s.BreakReason, s.BreakUsers)
	case s.BreakUsers > 0:
		fmt.Fprintf(w, "breaking point: %d users, %.1f rps (%s); last good %d users, %.1f rps\n", s.BreakUsers, s.BreakRPS, s.BreakReason, s.LastGoodUsers, s.LastGoodRPS)
	case s.GeneratorBound:
		fmt.Fprintf(w, "no break up to %d users; generator-bound\n", s.MaxUsers)
	}
	if s.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", s.FirstError)
	}
}

func writeLoadFiles(lf loadFlags, desc string, started time.Time, res *loadtest.LoadResult, sum loadSummary) error {
	write := func(path string, fn func(io.Writer) error) error {
		if path == "" {
			return nil
		}
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
		if err := fn(f); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("close %s: %w", path, err)
		}
		return nil
	}
	title := "scorer bench load: " + desc
	return errors.Join(
		write(lf.csvPath, func(w io.Writer) error { return loadtest.WriteCSV(w, res.Rows) }),
		write(lf.htmlPath, func(w io.Writer) error {
			return loadtest.WriteHTML(w, loadtest.Report{Title: title, Target: desc, Config: lf.cfg, Result: res, Started: started, Notes: lf.noteLines})
		}),
		write(lf.jsonPath, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(sum)
		}),
	)
}

func newBenchAsyncCmd() *cobra.Command {
	cfg := loadtest.DefaultAsyncConfig()
	var bodies string
	var seed uint64
	cmd := &cobra.Command{
		Use:   "async --n N",
		Short: "Publish N applications to loans.score; measure throughput and publish-to-result latency",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bt := benchTarget{bodies: bodies, seed: seed}
			b, err := bt.requestBodies()
			if err != nil {
				return err
			}
			conf, nc, err := clientConn(cmd.Flags(), "scorer bench async", cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer nc.Close()
			if !cmd.Flags().Changed("subject") {
				cfg.Subject = conf.Subjects.Score
			}
			if !cmd.Flags().Changed("results") {
				cfg.Results = conf.Subjects.Results
			}
			cfg.Prefix = loadtest.NewRunID("bench-async")
			return runAsync(cmd.Context(), cmd.OutOrStdout(), nc, b, cfg)
		},
	}
	f := cmd.Flags()
	addClientFlags(f)
	f.IntVar(&cfg.N, "n", cfg.N, "applications to publish")
	f.StringVar(&cfg.Subject, "subject", cfg.Subject, "the JetStream input subject")
	f.StringVar(&cfg.Results, "results", cfg.Results, "the results base subject (results arrive on <results>.<id>)")
	f.IntVar(&cfg.InFlight, "in-flight", cfg.InFlight, "publishes awaiting their JetStream ack at most")
	f.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound of the whole run")
	f.StringVar(&bodies, "bodies", "generated", "request bodies: generated or seed")
	f.Uint64Var(&seed, "seed", 1, "generator seed of --bodies generated")
	return cmd
}

func runAsync(ctx context.Context, w io.Writer, nc *nats.Conn, bodies [][]byte, cfg loadtest.AsyncConfig) error {
	fmt.Fprintf(w, "publishing %d applications to %s (%d in flight), results on %s\n", cfg.N, cfg.Subject, cfg.InFlight, cfg.Results)
	res, err := loadtest.RunAsync(ctx, nc, bodies, cfg)
	if res != nil {
		fmt.Fprintf(w, "published %d in %s; %d results (%d errors) in %s: %.0f results/s end to end\n",
			res.Published, res.PublishElapsed.Round(time.Millisecond), res.Results, res.Failures, res.Elapsed.Round(time.Millisecond), res.Throughput)
		if res.Results > 0 {
			fmt.Fprintf(w, "publish-to-result latency: p50 %.3f ms, p95 %.3f ms, p99 %.3f ms, max %.3f ms\n",
				msOf(res.P50), msOf(res.P95), msOf(res.P99), msOf(res.Max))
		}
	}
	if err != nil {
		return fmt.Errorf("async run: %w", err)
	}
	if res.Failures > 0 {
		return fmt.Errorf("%d of %d results were errors", res.Failures, res.Results)
	}
	return nil
}
