package loadtest

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Report is what WriteHTML renders.
type Report struct {
	// Title heads the page ("scorer bench load: http").
	Title string
	// Target names what was measured (a URL or a subject).
	Target string
	// Config is the run's configuration.
	Config LoadConfig
	// Result is the run.
	Result *LoadResult
	// Started is when the run began.
	Started time.Time
	// Notes are extra lines shown under the title (machine, load average).
	Notes []string
}

// series is one line of a chart.
type series struct {
	name  string
	color string
	value func(Row) float64
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH                 = 900, 260
	padL, padR, padT, padB float64 = 64, 16, 12, 36
)

// WriteHTML writes a self-contained HTML page: a summary table and three
// inline SVG charts (requests and failures per second, latency
// percentiles, users) over the run's time. It loads nothing from outside
// and runs no script; every data point is a <circle> with a <title>, and
// each series a <polyline>.
func WriteHTML(w io.Writer, rep Report) error {
	rows := rep.Result.Rows
	charts := []template.HTML{
		chart("Throughput (per second)", "req/s", rows, []series{
			{"requests/s", "#1f77b4", func(r Row) float64 { return r.RPS }},
			{"failures/s", "#d62728", func(r Row) float64 { return r.FailuresPerSec }},
		}),
		chart("Latency percentiles (ms)", "ms", rows, []series{
			{"p50", "#2ca02c", func(r Row) float64 { return msf(r.P50) }},
			{"p95", "#ff7f0e", func(r Row) float64 { return msf(r.P95) }},
			{"p99", "#9467bd", func(r Row) float64 { return msf(r.P99) }},
		}),
		chart("Users", "users", rows, []series{
			{"users", "#17becf", func(r Row) float64 { return float64(r.Users) }},
		}),
		chart("Load generator CPU (% of one core)", "%", rows, []series{
			{"generator CPU", "#7f7f7f", func(r Row) float64 { return r.CPU }},
		}),
	}
	if err := page.Execute(w, pageData{Report: rep, Charts: charts, Summary: summaryRows(rep)}); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

type pageData struct {
	Report
	Charts  []template.HTML
	Summary [][2]string
}

func summaryRows(rep Report) [][2]string {
	r, c := rep.Result, rep.Config
	rate := "as fast as possible"
	if c.RatePerUser > 0 {
		rate = strconv.FormatFloat(c.RatePerUser, 'g', -1, 64) + " req/s per user"
	}
	out := [][2]string{
		{"target", rep.Target},
		{"started", rep.Started.UTC().Format(time.RFC3339)},
		{"users / spawn rate", fmt.Sprintf("%d users at %g/s, %s, at most %s", c.Users, c.SpawnRate, rate, c.Duration)},
		{"all requests", summaryText(r.Total)},
		{fmt.Sprintf("at %d users", c.Users), summaryText(r.Steady)},
		{"max rps (one interval)", fmt.Sprintf("%.1f", r.MaxRPS)},
		{"max users", strconv.Itoa(r.MaxUsers)},
		{"max generator CPU", fmt.Sprintf("%.0f%% of one core", r.MaxCPU)},
	}
	if c.UntilBreak {
		b := "not reached"
		if r.Break != nil {
			b = fmt.Sprintf("%d users, %.1f rps (%s); last good: %d users, %.1f rps, p95 %s",
				r.Break.At.Users, r.Break.At.RPS, r.Break.Reason, r.Break.LastGood.Users, r.Break.LastGood.RPS, short(r.Break.LastGood.P95))
		}
		out = append(out, [2]string{fmt.Sprintf("breaking point (p95 > %s or failures, %d intervals)", c.BreakP95, c.BreakSeconds), b})
	}
	if r.FirstError != nil {
		out = append(out, [2]string{"first error", r.FirstError.Error()})
	}
	return out
}

func summaryText(s Summary) string {
	if s.Requests == 0 {
		return "none"
	}
	return fmt.Sprintf("%d requests, %d failures, %.1f rps; p50 %s, p95 %s, p99 %s, max %s", s.Requests, s.Failures, s.RPS,
		short(s.P50), short(s.P95), short(s.P99), short(s.Max))
}

// short rounds d to three or four significant digits for reading.
func short(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// chart renders one SVG line chart of rows over elapsed time.
func chart(title, unit string, rows []Row, ss []series) template.HTML {
	var tmax, vmax float64
	for _, r := range rows {
		tmax = max(tmax, r.Elapsed.Seconds())
		for _, s := range ss {
			if v := s.value(r); !math.IsNaN(v) && !math.IsInf(v, 0) {
				vmax = max(vmax, v)
			}
		}
	}
	tmax = niceCeil(max(tmax, 1))
	vmax = niceCeil(max(vmax, 1e-9))
	x := func(t float64) float64 { return padL + t/tmax*(chartW-padL-padR) }
	y := func(v float64) float64 { return chartH - padB - v/vmax*(chartH-padT-padB) }

	var b strings.Builder
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<figure><figcaption>%s</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		esc(title), chartW, chartH, chartW, chartH, esc(title))
	// Axes, grid and tick labels.
	fmt.Fprintf(&b, `<g class="axes" stroke="#999" stroke-width="1"><line x1="%g" y1="%g" x2="%g" y2="%g"/><line x1="%g" y1="%g" x2="%g" y2="%g"/></g>`,
		padL, y(0), chartW-padR, y(0), padL, y(0), padL, padT)
	b.WriteString(`<g class="ticks" font-size="11" fill="#444">`)
	for i := 0; i <= 4; i++ {
		v := vmax * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#eee"/><text x="%g" y="%g" text-anchor="end">%s</text>`,
			padL, y(v), chartW-padR, y(v), padL-6, y(v)+4, tick(v))
		t := tmax * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">%ss</text>`, x(t), chartH-padB+16, tick(t))
	}
	fmt.Fprintf(&b, `<text x="14" y="%g" transform="rotate(-90 14 %g)" text-anchor="middle">%s</text></g>`,
		(padT+chartH-padB)/2, (padT+chartH-padB)/2, esc(unit))
	for si, s := range ss {
		var pts strings.Builder
		var dots strings.Builder
		for _, r := range rows {
			v := s.value(r)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			px, py := x(r.Elapsed.Seconds()), y(v)
			fmt.Fprintf(&pts, "%.1f,%.1f ", px, py)
			fmt.Fprintf(&dots, `<circle cx="%.1f" cy="%.1f" r="2"><title>%.1fs: %s %s</title></circle>`,
				px, py, r.Elapsed.Seconds(), esc(s.name), tick(v))
		}
		fmt.Fprintf(&b, `<g class="series" data-series="%s" fill="%s"><polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>%s</g>`,
			esc(s.name), s.color, s.color, strings.TrimSpace(pts.String()), dots.String())
		fmt.Fprintf(&b, `<g class="legend" font-size="12"><rect x="%g" y="%g" width="10" height="10" fill="%s"/><text x="%g" y="%g">%s</text></g>`,
			padL+10+float64(si)*120, padT, s.color, padL+24+float64(si)*120, padT+9, esc(s.name))
	}
	b.WriteString(`</svg></figure>`)
	return template.HTML(b.String()) //nolint:gosec // every interpolated string is escaped above
}

// niceCeil rounds v up to a round number (1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6
// or 8 times a power of ten), so the axis ends near the data and its
// quarters are round too.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// tick formats an axis value compactly.
func tick(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:960px}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;font-size:14px}
figure{margin:18px 0}figcaption{font-weight:600;margin-bottom:4px}svg{background:#fff;border:1px solid #eee}
.note{color:#555;font-size:13px}
</style></head><body>
<h1>{{.Title}}</h1>
{{range .Notes}}<p class="note">{{.}}</p>{{end}}
<table>{{range .Summary}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
{{range .Charts}}{{.}}{{end}}
<p class="note">Latencies per interval from a log-bucketed histogram (within 0.4%); max exact. Requests count in the interval they completed in.</p>
</body></html>
`))
