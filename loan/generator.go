package loan

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Generator draws realistic loan applications. The same seed always gives
// the same sequence. Applications and labels come from two separate PCG
// streams, so asking for labels does not change the applications drawn.
// A Generator is not safe for concurrent use.
type Generator struct {
	rng    *rand.Rand // applications
	labels *rand.Rand // defaults drawn from Risk

	states   []state
	stateCum []float64
	cityCum  [][]float64 // per state

	national    []lender
	nationalCum []float64
	community   [][]lender // per state
	commCum     [][]float64
	allComm     []lender

	sectors   []sector
	sectorCum []float64

	franchises   []string
	franchiseCum []float64
}

// NewGenerator returns a generator seeded with seed.
func NewGenerator(seed uint64) *Generator {
	g := &Generator{
		rng:    rand.New(rand.NewPCG(seed, 0x6c6f616e2d617070)), // "loan-app"
		labels: rand.New(rand.NewPCG(seed, 0x6c6f616e2d6c626c)), // "loan-lbl"
		states: states(),
	}
	idx := make(map[string]int, len(g.states))
	for i, s := range g.states {
		idx[s.Code] = i
		g.stateCum = appendCum(g.stateCum, s.Weight)
		var cc []float64
		for j := range s.Cities {
			cc = appendCum(cc, 1/float64(j+1))
		}
		g.cityCum = append(g.cityCum, cc)
	}
	g.national = nationalLenders()
	for _, l := range g.national {
		g.nationalCum = appendCum(g.nationalCum, l.Weight)
	}
	g.allComm = communityLenders(g.states)
	g.community = make([][]lender, len(g.states))
	g.commCum = make([][]float64, len(g.states))
	for _, l := range g.allComm {
		i := idx[l.State]
		g.community[i] = append(g.community[i], l)
		g.commCum[i] = appendCum(g.commCum[i], l.Weight)
	}
	g.sectors = sectors()
	for _, s := range g.sectors {
		g.sectorCum = appendCum(g.sectorCum, s.Weight)
	}
	g.franchises = franchiseCodes(60)
	for k := range g.franchises {
		g.franchiseCum = appendCum(g.franchiseCum, 1/float64(k+1))
	}
	return g
}

// appendCum appends the running total plus w.
func appendCum(cum []float64, w float64) []float64 {
	t := w
	if n := len(cum); n > 0 {
		t += cum[n-1]
	}
	return append(cum, t)
}

// pick draws an index with probability proportional to the weights whose
// running totals are cum.
func (g *Generator) pick(cum []float64) int {
	u := g.rng.Float64() * cum[len(cum)-1]
	i := sort.SearchFloat64s(cum, u)
	if i >= len(cum) {
		i = len(cum) - 1
	}
	return i
}

// Labeled draws the next application, computes its true default
// probability with Risk and draws the default from it.
func (g *Generator) Labeled() Labeled {
	var l Labeled
	g.Fill(&l.Application)
	l.DefaultProbaTrue = Risk(&l.Application)
	if g.labels.Float64() < l.DefaultProbaTrue {
		l.Default = 1
	}
	return l
}

// Next draws the next application.
func (g *Generator) Next() Application {
	var a Application
	g.Fill(&a)
	// Keep the label stream in step with Labeled, so that the i-th
	// application is the same whichever method drew it.
	g.labels.Float64()
	return a
}

// Fill overwrites a with the next application's fields; it does not advance
// the label stream (Next and Labeled do).
func (g *Generator) Fill(a *Application) {
	r := g.rng
	*a = Application{}

	// Where: state by business count, a city near one of its real cities.
	si := g.pick(g.stateCum)
	s := &g.states[si]
	a.State = s.Code
	anchor := s.Cities[g.pick(g.cityCum[si])]
	jitter := 0.08
	if r.Float64() < 0.4 {
		a.City = "Other" // the long tail of small towns, bucketed by the seed's pipeline
		jitter = 0.35
	} else {
		a.City = anchor.Name
	}
	if r.Float64() >= 0.03 {
		lat := clamp(anchor.Lat+jitter*(2*r.Float64()-1), s.MinLat, s.MaxLat)
		lon := clamp(anchor.Lon+jitter*(2*r.Float64()-1), s.MinLon, s.MaxLon)
		lat, lon = round(lat, 1e4), round(lon, 1e4)
		a.Latitude, a.Longitude = &lat, &lon
	}
	switch u := r.Float64(); {
	case u < 0.33:
		a.UrbanRural = 0
	case a.City != "Other" && u < 0.33+0.67*0.85, a.City == "Other" && u < 0.33+0.67*0.45:
		a.UrbanRural = 1
	default:
		a.UrbanRural = 2
	}

	// What: sector, new or existing business, franchise.
	a.NAICS = g.sectors[g.pick(g.sectorCum)].Code
	pNew := 0.28
	if a.NAICS == "72" {
		pNew = 0.4
	}
	a.IsNew = r.Float64() < pNew
	switch u := r.Float64(); {
	case u < 0.70:
		a.FranchiseCode = "0"
	case u < 0.94:
		a.FranchiseCode = "1"
	default:
		a.FranchiseCode = g.franchises[g.pick(g.franchiseCum)]
	}

	a.Term = g.term(a.NAICS == "53")
	g.size(a)

	switch u := r.Float64(); {
	case a.Term < 60 && u < 0.45:
		a.RevLineCr = "Y"
	case u < 0.47:
		a.RevLineCr = "N"
	case u < 0.75:
		a.RevLineCr = "0"
	case u < 0.97:
		a.RevLineCr = "Y"
	case u < 0.99:
		a.RevLineCr = "T"
	default:
		a.RevLineCr = Missing
	}

	// Who lends: a national lender, a community bank of the state, or now
	// and then one from elsewhere.
	var l lender
	switch u := r.Float64(); {
	case u < 0.45:
		l = g.national[g.pick(g.nationalCum)]
	case u < 0.45+0.55*0.9:
		l = g.community[si][g.pick(g.commCum[si])]
	default:
		l = g.allComm[r.IntN(len(g.allComm))]
	}
	a.Bank, a.BankState = l.Name, l.State
	switch u := r.Float64(); {
	case u < 0.003:
		a.Bank, a.BankState = Missing, Missing
	case u < 0.006:
		a.BankState = Missing
	}
	a.SameState = a.State == a.BankState
}

// term draws a loan term in months: clustered at 84, 60, 120, 240 and 300
// (real estate), with short working-capital terms and a spread of others.
func (g *Generator) term(realEstate bool) int32 {
	r := g.rng
	u := r.Float64()
	if realEstate && u < 0.5 {
		if r.Float64() < 0.6 {
			return 240
		}
		return 300
	}
	switch {
	case u < 0.30:
		return 84
	case u < 0.44:
		return 60
	case u < 0.54:
		return 120
	case u < 0.64:
		return 240
	case u < 0.69:
		return 300
	case u < 0.73:
		return 180
	case u < 0.85:
		if r.Float64() < 0.5 {
			return []int32{6, 12, 12, 24, 36, 36, 48}[r.IntN(7)]
		}
		return int32(1 + r.IntN(59))
	default:
		return int32(61 + r.IntN(300))
	}
}

// size draws the employee counts and the amounts: heavy-tailed (log-normal)
// employee counts and gross amounts, the SBA guaranteed share as the
// programme rules set it (85% up to $150k, 75% above, 50% for Express).
func (g *Generator) size(a *Application) {
	r := g.rng
	emp := int32(math.Min(9999, math.Floor(math.Exp(1.3+1.1*r.NormFloat64()))))
	if r.Float64() >= 0.015 {
		a.NoEmp = &emp
	}
	if r.Float64() < 0.3 {
		a.CreateJob = int32(math.Min(500, math.Floor(math.Exp(0.7+0.9*r.NormFloat64()))))
	}
	if r.Float64() < 0.7 {
		a.RetainedJob = emp
		if r.Float64() < 0.2 {
			a.RetainedJob = int32(math.Max(0, float64(emp)+math.Round(2*r.NormFloat64())))
		}
	}

	mu := math.Log(80000)
	if a.Term >= 240 {
		mu = math.Log(350000)
	} else if a.Term < 60 {
		mu = math.Log(40000)
	}
	amt := math.Exp(mu + 1.0*r.NormFloat64() + 0.15*math.Log1p(float64(emp)))
	amt = clamp(amt, 1000, 5000000)
	if amt >= 10000 {
		amt = math.Round(amt/1000) * 1000
	} else {
		amt = math.Round(amt/100) * 100
	}
	a.GrAppv = amt
	var share float64
	switch u := r.Float64(); {
	case u < 0.2:
		share = 0.5
	case u < 0.21:
		share = 1
	case amt <= 150000:
		share = 0.85
	default:
		share = 0.75
	}
	a.SBAAppv = math.Min(amt, round(amt*share, 100))
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// round rounds v to the multiple of 1/scale nearest in decimal (scale is a
// power of ten), so that it prints with at most log10(scale) decimals.
func round(v, scale float64) float64 { return math.Round(v*scale) / scale }
