package loan

import "strconv"

// This file holds the business domains: 2-digit NAICS sectors with their
// share of SBA loans, and franchise codes.

// sector is a 2-digit NAICS sector and its share of applications.
type sector struct {
	Code   string
	Weight float64
}

// sectors returns the NAICS sectors with weights roughly as in SBA 7(a)
// lending (retail, food service, other services, professional services and
// construction lead); "0" is an unknown sector, as in older SBA records.
func sectors() []sector {
	return []sector{
		{"11", 1.0}, {"21", 0.3}, {"22", 0.1}, {"23", 9.0}, {"31", 2.0}, {"32", 2.0}, {"33", 4.0},
		{"42", 6.0}, {"44", 9.0}, {"45", 5.0}, {"48", 3.0}, {"49", 0.5}, {"51", 1.5}, {"52", 1.0},
		{"53", 2.0}, {"54", 10.0}, {"55", 0.05}, {"56", 5.0}, {"61", 1.0}, {"62", 7.0}, {"71", 2.0},
		{"72", 10.0}, {"81", 10.0}, {"92", 0.05}, {"0", 5.0},
	}
}

// franchiseCodes returns n distinct 5-digit franchise codes, deterministic
// (the SBA's codes are opaque identifiers; these look like them).
func franchiseCodes(n int) []string {
	out := make([]string, n)
	for k := range n {
		out[k] = strconv.Itoa(10000 + (k*7919+3571)%89990)
	}
	return out
}
