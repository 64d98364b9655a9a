package loan

import (
	"fmt"
	"strconv"
)

// This file holds the business domains the generator draws from: lenders
// (real national SBA lenders, named as the SBA data spells them, and a few
// hundred community banks named after the cities of states.go, each with its
// home state), 2-digit NAICS sectors with their share of SBA loans, and
// franchise codes.

// lender is one bank with its home state (the application's BankState).
type lender struct {
	Name  string
	State string
	// Weight is the lender's relative share of national (out-of-state)
	// lending; community banks lend mostly in their own state.
	Weight float64
}

// nationalLenders returns the large lenders that lend in every state, most
// active first. Their risk effects are listed in risk.go.
func nationalLenders() []lender {
	return []lender{
		{"BANK OF AMERICA NATL ASSOC", "NC", 90},
		{"WELLS FARGO BANK NATL ASSOC", "SD", 85},
		{"JPMORGAN CHASE BANK NATL ASSOC", "IL", 60},
		{"U.S. BANK NATIONAL ASSOCIATION", "OH", 50},
		{"CITIZENS BANK NATL ASSOC", "RI", 35},
		{"PNC BANK, NATIONAL ASSOCIATION", "DE", 30},
		{"BBCN BANK", "CA", 25},
		{"CAPITAL ONE NATL ASSOC", "VA", 22},
		{"MANUFACTURERS & TRADERS TR CO", "NY", 20},
		{"TD BANK, NATIONAL ASSOCIATION", "DE", 18},
		{"KEYBANK NATIONAL ASSOCIATION", "OH", 16},
		{"FIFTH THIRD BANK", "OH", 15},
		{"HUNTINGTON NATL BANK", "OH", 15},
		{"BRANCH BANKING & TRUST CO", "NC", 14},
		{"REGIONS BANK", "AL", 12},
		{"SUNTRUST BANK", "GA", 11},
		{"ZIONS FIRST NATIONAL BANK", "UT", 10},
		{"CELTIC BANK CORPORATION", "UT", 10},
		{"LIVE OAK BANKING COMPANY", "NC", 9},
		{"NEWTEK SMALL BUS. FINANCE INC.", "NY", 9},
		{"READYCAP LENDING, LLC", "NJ", 8},
		{"HANMI BANK", "CA", 8},
		{"WILSHIRE STATE BANK", "CA", 7},
		{"EAST WEST BANK", "CA", 7},
		{"CATHAY BANK", "CA", 6},
		{"BANCO POPULAR NORTH AMERICA", "NY", 6},
		{"CALIFORNIA BANK & TRUST", "CA", 6},
		{"COMPASS BANK", "AL", 6},
		{"BANK OF THE WEST", "CA", 5},
		{"STEARNS BANK NATIONAL ASSOCIATION", "MN", 5},
		{"BYLINE BANK", "IL", 5},
		{"FIRST-CITIZENS BANK & TRUST CO", "NC", 5},
		{"SUPERIOR FINANCIAL GROUP, LLC", "CA", 4},
		{"INNOVATIVE BANK", "CA", 3},
		{"HERITAGE BANK OF COMMERCE", "CA", 3},
		{"SYNOVUS BANK", "GA", 3},
		{"WEBSTER BANK NATIONAL ASSOC", "CT", 3},
		{"COMERICA BANK", "MI", 3},
		{"UMB BANK, NATIONAL ASSOCIATION", "MO", 2},
		{"THE FROST NATIONAL BANK", "TX", 2},
	}
}

// communityLenders returns the community banks: for every city of every
// state one bank named after it (patterns vary by position), plus one
// "<STATE> STATE BANK" per state, all with that state as home.
func communityLenders(sts []state) []lender {
	patterns := []string{
		"FIRST NATIONAL BANK OF %s",
		"%s COMMUNITY BANK",
		"BANK OF %s",
		"%s SAVINGS BANK",
		"%s BANK & TRUST",
		"CITIZENS BANK OF %s",
		"%s FEDERAL CREDIT UNION",
	}
	var out []lender
	n := 0
	for _, s := range sts {
		out = append(out, lender{Name: s.Code + " STATE BANK", State: s.Code, Weight: 1})
		for i, c := range s.Cities {
			name := fmt.Sprintf(patterns[n%len(patterns)], upper(c.Name))
			n++
			// The largest city of a state gets two banks.
			out = append(out, lender{Name: name, State: s.Code, Weight: 1 / float64(i+1)})
			if i == 0 {
				name2 := fmt.Sprintf(patterns[n%len(patterns)], upper(c.Name))
				n++
				out = append(out, lender{Name: name2, State: s.Code, Weight: 0.5})
			}
		}
	}
	return out
}

// upper is ASCII upper-casing (all names here are ASCII).
func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

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
