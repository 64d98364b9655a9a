package loan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestGeneratorDeterministic(t *testing.T) {
	lines := func(seed uint64) []byte {
		g := NewGenerator(seed)
		var buf []byte
		for range 2000 {
			l := g.Labeled()
			buf = l.AppendJSON(buf)
			buf = append(buf, '\n')
		}
		return buf
	}
	a, b, c := lines(7), lines(7), lines(8)
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave different applications")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same applications")
	}
}

func TestNextAndLabeledDrawTheSameApplications(t *testing.T) {
	g1, g2 := NewGenerator(3), NewGenerator(3)
	for i := range 1000 {
		a := g1.Next()
		l := g2.Labeled()
		if !reflect.DeepEqual(a, l.Application) {
			t.Fatalf("application %d differs: Next %+v, Labeled %+v", i, a, l.Application)
		}
	}
}

// TestDomains checks every field's domain and the consistency rules on a
// large sample.
func TestDomains(t *testing.T) {
	const n = 50000
	g := NewGenerator(11)
	boxes := make(map[string]state)
	for _, s := range states() {
		boxes[s.Code] = s
	}
	counts := struct {
		state              map[string]int
		bank, city         map[string]bool
		other, noEmpNil    int
		latNil, revNaN     int
		bankStateNaN       int
		clusteredTerm, new int
		franchise          int
		urban              [3]int
	}{state: map[string]int{}, bank: map[string]bool{}, city: map[string]bool{}}
	for i := range n {
		a := g.Next()
		s, ok := boxes[a.State]
		if !ok {
			t.Fatalf("row %d: state %q", i, a.State)
		}
		counts.state[a.State]++
		if (a.Latitude == nil) != (a.Longitude == nil) {
			t.Fatalf("row %d: only one of latitude and longitude missing", i)
		}
		if a.Latitude == nil {
			counts.latNil++
		} else if *a.Latitude < s.MinLat || *a.Latitude > s.MaxLat || *a.Longitude < s.MinLon || *a.Longitude > s.MaxLon {
			t.Fatalf("row %d: (%v, %v) outside %s", i, *a.Latitude, *a.Longitude, a.State)
		}
		if a.GrAppv < 1000 || a.GrAppv > 5e6 || a.SBAAppv <= 0 || a.SBAAppv > a.GrAppv {
			t.Fatalf("row %d: GrAppv %v SBA_Appv %v", i, a.GrAppv, a.SBAAppv)
		}
		if a.SameState != (a.State == a.BankState) {
			t.Fatalf("row %d: same_state %v for %s / %s", i, a.SameState, a.State, a.BankState)
		}
		switch a.RevLineCr {
		case "Y", "N", "0", "T":
		case Missing:
			counts.revNaN++
		default:
			t.Fatalf("row %d: RevLineCr %q", i, a.RevLineCr)
		}
		if a.UrbanRural < 0 || a.UrbanRural > 2 {
			t.Fatalf("row %d: UrbanRural %d", i, a.UrbanRural)
		}
		counts.urban[a.UrbanRural]++
		if a.NAICS != "0" && (len(a.NAICS) != 2 || a.NAICS < "11" || a.NAICS > "92") {
			t.Fatalf("row %d: naics_first_two %q", i, a.NAICS)
		}
		switch {
		case a.FranchiseCode == "0" || a.FranchiseCode == "1":
		case len(a.FranchiseCode) == 5 && strings.Trim(a.FranchiseCode, "0123456789") == "":
			counts.franchise++
		default:
			t.Fatalf("row %d: FranchiseCode %q", i, a.FranchiseCode)
		}
		if a.Term < 1 || a.Term > 480 {
			t.Fatalf("row %d: Term %d", i, a.Term)
		}
		switch a.Term {
		case 60, 84, 120, 240, 300:
			counts.clusteredTerm++
		}
		if a.NoEmp == nil {
			counts.noEmpNil++
		} else if *a.NoEmp < 0 {
			t.Fatalf("row %d: NoEmp %d", i, *a.NoEmp)
		}
		if a.CreateJob < 0 || a.RetainedJob < 0 {
			t.Fatalf("row %d: jobs %d %d", i, a.CreateJob, a.RetainedJob)
		}
		if a.BankState == Missing {
			counts.bankStateNaN++
		}
		if a.IsNew {
			counts.new++
		}
		counts.bank[a.Bank] = true
		counts.city[a.City] = true
		if a.City == "Other" {
			counts.other++
		}
	}
	if len(counts.state) != 51 {
		t.Errorf("%d states drawn, want 51 (50 and DC)", len(counts.state))
	}
	if counts.state["CA"] < counts.state["TX"] || counts.state["TX"] < 10*counts.state["WY"] {
		t.Errorf("state weights off: CA %d TX %d WY %d", counts.state["CA"], counts.state["TX"], counts.state["WY"])
	}
	for _, b := range []string{"BBCN BANK", "WELLS FARGO BANK NATL ASSOC"} {
		if !counts.bank[b] {
			t.Errorf("lender %q never drawn", b)
		}
	}
	if len(counts.bank) < 250 {
		t.Errorf("%d lenders drawn, want a few hundred", len(counts.bank))
	}
	if len(counts.city) < 150 {
		t.Errorf("%d cities drawn, want a long tail", len(counts.city))
	}
	share := func(k int) float64 { return float64(k) / n }
	checks := []struct {
		name   string
		got    float64
		lo, hi float64
	}{
		{"City Other", share(counts.other), 0.35, 0.45},
		{"NoEmp missing", share(counts.noEmpNil), 0.005, 0.03},
		{"lat/long missing", share(counts.latNil), 0.02, 0.04},
		{"RevLineCr nan", share(counts.revNaN), 0.005, 0.02},
		{"BankState nan", share(counts.bankStateNaN), 0.002, 0.012},
		{"terms at 60/84/120/240/300", share(counts.clusteredTerm), 0.5, 0.8},
		{"is_new", share(counts.new), 0.2, 0.4},
		{"5-digit franchise", share(counts.franchise), 0.04, 0.08},
		{"UrbanRural 0", share(counts.urban[0]), 0.28, 0.38},
		{"UrbanRural 1", share(counts.urban[1]), 0.4, 0.55},
	}
	for _, c := range checks {
		if c.got < c.lo || c.got > c.hi {
			t.Errorf("%s: share %.4f not in [%v, %v]", c.name, c.got, c.lo, c.hi)
		}
	}
}

func TestSeedExamplesJSON(t *testing.T) {
	// The seed's examples, verbatim from DESIGN.md.
	want := []string{
		`{"Term":84,"NoEmp":5,"CreateJob":0,"RetainedJob":5,"longitude":-77.9221,"latitude":35.3664,"GrAppv":1500000.0,"SBA_Appv":1275000.0,"is_new":true,"FranchiseCode":"0","UrbanRural":1,"City":"Other","State":"NC","Bank":"BBCN BANK","BankState":"CA","RevLineCr":"N","naics_first_two":"45","same_state":false}`,
		`{"Term":19,"NoEmp":10,"CreateJob":0,"RetainedJob":10,"longitude":-85.0117,"latitude":41.0699,"GrAppv":3500000.0,"SBA_Appv":1750000.0,"is_new":false,"FranchiseCode":"1","UrbanRural":2,"City":"Other","State":"IN","Bank":"WELLS FARGO BANK NATL ASSOC","BankState":"SD","RevLineCr":"Y","naics_first_two":"81","same_state":false}`,
	}
	for i, a := range SeedExamples() {
		if got := string(a.AppendJSON(nil)); got != want[i] {
			t.Errorf("example %d:\n got %s\nwant %s", i, got, want[i])
		}
	}
}

// TestJSONRoundTrip decodes the hand-written JSON with encoding/json.
func TestJSONRoundTrip(t *testing.T) {
	g := NewGenerator(5)
	for i := range 5000 {
		l := g.Labeled()
		line := l.AppendJSON(nil)
		var back Labeled
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&back); err != nil {
			t.Fatalf("row %d: %v\n%s", i, err, line)
		}
		if !reflect.DeepEqual(back, l) {
			t.Fatalf("row %d: round trip\n got %+v\nwant %+v", i, back, l)
		}
		var fields map[string]any
		if err := json.Unmarshal(line, &fields); err != nil {
			t.Fatal(err)
		}
		if len(fields) != 20 {
			t.Fatalf("row %d: %d fields, want 18 and 2 labels", i, len(fields))
		}
	}
}
