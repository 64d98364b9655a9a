package loadtest

import (
	"bytes"
	"context"
	"encoding/csv"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// sampleResult is a small run with a break, built by hand so every value
// in the outputs is known.
func sampleResult() (*LoadResult, LoadConfig) {
	cfg := DefaultLoadConfig()
	cfg.UntilBreak = true
	res := &LoadResult{MaxRPS: 40, MaxUsers: 40, MaxCPU: 12.5}
	for i := 1; i <= 8; i++ {
		res.Rows = append(res.Rows, Row{
			Elapsed: time.Duration(i) * time.Second, Users: 5 * i, Requests: uint64(5 * i), RPS: float64(5 * i),
			P50: time.Duration(i) * time.Millisecond, P95: time.Duration(2*i) * time.Millisecond,
			P99: time.Duration(3*i) * time.Millisecond, Max: time.Duration(4*i) * time.Millisecond, CPU: 12.5,
		})
	}
	res.Rows[7].Failures, res.Rows[7].FailuresPerSec = 3, 3
	res.Total = Summary{Requests: 180, Failures: 3, RPS: 22.5, P50: 4 * time.Millisecond, P95: 14 * time.Millisecond, P99: 21 * time.Millisecond, Max: 32 * time.Millisecond}
	res.Steady = res.Total
	res.Break = &Break{At: res.Rows[7], LastGood: res.Rows[6], Reason: "3 failures"}
	return res, cfg
}

func TestWriteCSV(t *testing.T) {
	res, _ := sampleResult()
	var buf bytes.Buffer
	if err := WriteCSV(&buf, res.Rows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 9 || strings.Join(recs[0], ",") != strings.Join(csvHeader, ",") {
		t.Fatalf("%d records, header %v", len(recs), recs[0])
	}
	// Row 8: 40 users, 40 requests, 3 failures, p95 16 ms, max 32 ms.
	want := []string{"8.000", "40", "40", "3", "40.00", "3.00", "8.000", "16.000", "24.000", "32.000", "12.5"}
	if strings.Join(recs[8], ",") != strings.Join(want, ",") {
		t.Errorf("last row %v, want %v", recs[8], want)
	}
}

func TestWriteHTMLIsSelfContained(t *testing.T) {
	res, cfg := sampleResult()
	var buf bytes.Buffer
	err := WriteHTML(&buf, Report{Title: "bench <load>", Target: "http://x/predict?a=<b>", Config: cfg, Result: res, Started: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, banned := range []string{"<script", "http://www.w3.org/1999", "src=", "href=", "@import", "<b>"} {
		if strings.Contains(html, banned) {
			t.Errorf("report contains %q", banned)
		}
	}
	if n := strings.Count(html, "<svg"); n != 4 {
		t.Errorf("%d charts, want 4", n)
	}
	// Throughput 2 series, latency 3, users 1, CPU 1: 7 series of 8 points.
	if n := strings.Count(html, "<circle"); n != 7*8 {
		t.Errorf("%d data points, want 56", n)
	}
	if !strings.Contains(html, "40 users, 40.0 rps (3 failures); last good: 35 users, 35.0 rps") {
		t.Errorf("breaking point missing from the summary")
	}
}

// chromium returns Debian's chromium, skipping the test when it is absent
// outside CI (CI installs it and must not skip).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed, and CI is set: .ci/run must install it (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium); CI runs this test")
	return ""
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

var (
	figureRE   = regexp.MustCompile(`(?s)<figure>.*?</figure>`)
	seriesRE   = regexp.MustCompile(`(?s)<g class="series" data-series="([^"]+)"[^>]*><polyline[^>]*points="([^"]*)"`)
	circleRE   = regexp.MustCompile(`<circle cx="([0-9.]+)" cy="([0-9.]+)"`)
	captionRE  = regexp.MustCompile(`<figcaption>([^<]*)</figcaption>`)
	wantSeries = map[string][]string{
		"Throughput (per second)":            {"requests/s", "failures/s"},
		"Latency percentiles (ms)":           {"p50", "p95", "p99"},
		"Users":                              {"users"},
		"Load generator CPU (% of one core)": {"generator CPU"},
	}
)

func TestReportRendersInChromium(t *testing.T) {
	testkit.NeedFull(t, "renders the load report in headless Chromium (about 40 s)")
	bin := chromium(t)
	// A real short run against the scorer, so the charts hold measured data.
	s := startScorer(t, nil)
	cfg := DefaultLoadConfig()
	cfg.Users, cfg.SpawnRate, cfg.RatePerUser = 3, 30, 40
	cfg.Duration, cfg.Interval = 2*time.Second, 200*time.Millisecond
	res, err := RunLoad(context.Background(), s.targets(t)[1], Generated(5, 20), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(f, Report{Title: "scorer bench load: http", Target: "http://" + s.httpAddr + "/predict", Config: cfg, Result: res, Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	url := "file://" + path

	// The DOM Chromium built: four figures, each with its series, every
	// series with one point per row, all inside the chart.
	dom := string(runChromium(t, bin, "--dump-dom", url))
	figures := figureRE.FindAllString(dom, -1)
	if len(figures) != 4 {
		t.Fatalf("rendered DOM has %d figures, want 4:\n%.2000s", len(figures), dom)
	}
	for _, fig := range figures {
		caption := captionRE.FindStringSubmatch(fig)
		if caption == nil {
			t.Fatalf("figure without caption: %.300s", fig)
		}
		names := wantSeries[strings.ReplaceAll(caption[1], "&amp;", "&")]
		series := seriesRE.FindAllStringSubmatch(fig, -1)
		if len(series) != len(names) {
			t.Errorf("%s: %d series, want %v", caption[1], len(series), names)
			continue
		}
		for i, sm := range series {
			pts := strings.Fields(sm[2])
			if sm[1] != names[i] || len(pts) != len(res.Rows) || len(pts) < 2 {
				t.Errorf("%s: series %q with %d points, want %q with %d (≥ 2)", caption[1], sm[1], len(pts), names[i], len(res.Rows))
			}
		}
		circles := circleRE.FindAllStringSubmatch(fig, -1)
		if len(circles) != len(names)*len(res.Rows) {
			t.Errorf("%s: %d data points, want %d", caption[1], len(circles), len(names)*len(res.Rows))
		}
		for _, c := range circles {
			x, _ := strconv.ParseFloat(c[1], 64)
			y, _ := strconv.ParseFloat(c[2], 64)
			if x < padL-1 || x > chartW-padR+1 || y < padT-1 || y > chartH-padB+1 {
				t.Errorf("%s: point (%g, %g) outside the plot area", caption[1], x, y)
			}
		}
	}

	// The pixels: the screenshot shows the series colours.
	shot := filepath.Join(dir, "shot.png")
	runChromium(t, bin, "--screenshot="+shot, "--window-size=1000,1600", "--hide-scrollbars", url)
	pf, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	img, err := png.Decode(pf)
	if err != nil {
		t.Fatal(err)
	}
	for _, color := range []string{"#1f77b4", "#2ca02c", "#ff7f0e", "#17becf"} {
		var want [3]uint32
		for i := range want {
			v, _ := strconv.ParseUint(color[1+2*i:3+2*i], 16, 8)
			want[i] = uint32(v)
		}
		n := 0
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				if near(r>>8, want[0]) && near(g>>8, want[1]) && near(bl>>8, want[2]) {
					n++
				}
			}
		}
		if n < 50 {
			t.Errorf("screenshot has %d pixels of %s, want a drawn series (≥ 50)", n, color)
		}
	}
}

func near(a, b uint32) bool { return a+6 >= b && b+6 >= a }
