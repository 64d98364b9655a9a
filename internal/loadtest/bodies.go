package loadtest

import "github.com/loan-scorer/loan-scorer/loan"

// Generated returns n request bodies: the first n applications of
// loan.NewGenerator(seed), as JSON objects. Runs cycle through them, so a
// few thousand cover the generator's variety without drawing per request.
func Generated(seed uint64, n int) [][]byte {
	g := loan.NewGenerator(seed)
	out := make([][]byte, n)
	for i := range out {
		a := g.Next()
		out[i] = a.AppendJSON(nil)
	}
	return out
}

// SeedExamples returns the seed's two example applications as JSON, the
// bodies of the seed's latency script and Locust file.
func SeedExamples() [][]byte {
	ex := loan.SeedExamples()
	out := make([][]byte, len(ex))
	for i := range ex {
		out[i] = ex[i].AppendJSON(nil)
	}
	return out
}
