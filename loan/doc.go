// Package loan generates realistic SBA loan applications for demos, tests
// and benchmarks: the 18 fields of the seed model, drawn deterministically
// from a seed (Generator), with a documented risk function (Risk) that gives
// every application a true default probability and a drawn label, and
// writers for JSON lines and Parquet.
//
// The data is synthetic: states weighted by business counts, real cities
// with coordinates, real and made-up lender names, NAICS sectors, terms,
// amounts and codes with the shapes SBA 7(a) data has. Nothing in it
// describes a real borrower.
package loan
