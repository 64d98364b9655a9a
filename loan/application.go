package loan

import (
	"math"
	"strconv"
)

// Application is one loan application with the 18 fields of the seed model
// (DESIGN.md "The loan application"), tagged with the names the service and
// the model use. Nil pointers are missing values: they are written as JSON
// null and as Parquet nulls. Categories are never missing: a missing
// RevLineCr, BankState or Bank is the string "nan", as pandas' astype(str)
// left it in the training data of the seed model (CatBoost requires strings).
type Application struct {
	Term        int32    `json:"Term" parquet:"Term"`
	NoEmp       *int32   `json:"NoEmp" parquet:"NoEmp,optional"`
	CreateJob   int32    `json:"CreateJob" parquet:"CreateJob"`
	RetainedJob int32    `json:"RetainedJob" parquet:"RetainedJob"`
	Longitude   *float64 `json:"longitude" parquet:"longitude,optional"`
	Latitude    *float64 `json:"latitude" parquet:"latitude,optional"`
	GrAppv      float64  `json:"GrAppv" parquet:"GrAppv"`
	SBAAppv     float64  `json:"SBA_Appv" parquet:"SBA_Appv"`
	IsNew       bool     `json:"is_new" parquet:"is_new"`
	// FranchiseCode is "0" or "1" for no franchise, else a 5-digit code.
	FranchiseCode string `json:"FranchiseCode" parquet:"FranchiseCode"`
	// UrbanRural is 0 (undefined), 1 (urban) or 2 (rural).
	UrbanRural int32  `json:"UrbanRural" parquet:"UrbanRural"`
	City       string `json:"City" parquet:"City"`
	State      string `json:"State" parquet:"State"`
	Bank       string `json:"Bank" parquet:"Bank"`
	BankState  string `json:"BankState" parquet:"BankState"`
	// RevLineCr is the SBA revolving-line code: "Y", "N", "0", "T", or "nan".
	RevLineCr string `json:"RevLineCr" parquet:"RevLineCr"`
	// NAICS is the 2-digit NAICS sector ("45"), "0" when unknown.
	NAICS     string `json:"naics_first_two" parquet:"naics_first_two"`
	SameState bool   `json:"same_state" parquet:"same_state"`
}

// Missing is the string a missing category holds (see Application).
const Missing = "nan"

// Labeled is an application with its true default probability (Risk) and
// the default drawn from it.
type Labeled struct {
	Application
	// Default is 1 when the loan defaulted, else 0.
	Default int32 `json:"default" parquet:"default"`
	// DefaultProbaTrue is Risk(&Application): the probability Default was
	// drawn with.
	DefaultProbaTrue float64 `json:"default_proba_true" parquet:"default_proba_true"`
}

// FloatFields returns the names of the numeric fields, in training order.
func FloatFields() []string {
	return []string{"Term", "NoEmp", "CreateJob", "RetainedJob", "longitude", "latitude", "GrAppv", "SBA_Appv", "UrbanRural"}
}

// CatFields returns the names of the categorical fields, in training order.
func CatFields() []string {
	return []string{"is_new", "FranchiseCode", "City", "State", "Bank", "BankState", "RevLineCr", "naics_first_two", "same_state"}
}

// FlatFields returns all 18 field names in the column order of the seed's
// training frame, which is the order of its example applications.
func FlatFields() []string {
	return []string{"Term", "NoEmp", "CreateJob", "RetainedJob", "longitude", "latitude", "GrAppv", "SBA_Appv",
		"is_new", "FranchiseCode", "UrbanRural", "City", "State", "Bank", "BankState", "RevLineCr",
		"naics_first_two", "same_state"}
}

// Floats writes the numeric fields into dst (length 9, FloatFields order),
// NaN for missing values.
func (a *Application) Floats(dst []float64) {
	_ = dst[8]
	dst[0] = float64(a.Term)
	dst[1] = optInt(a.NoEmp)
	dst[2] = float64(a.CreateJob)
	dst[3] = float64(a.RetainedJob)
	dst[4] = optFloat(a.Longitude)
	dst[5] = optFloat(a.Latitude)
	dst[6] = a.GrAppv
	dst[7] = a.SBAAppv
	dst[8] = float64(a.UrbanRural)
}

// Cats writes the categorical fields into dst (length 9, CatFields order) as
// the strings the model hashes: booleans as "True"/"False" (pandas' str()).
func (a *Application) Cats(dst []string) {
	_ = dst[8]
	dst[0] = BoolString(a.IsNew)
	dst[1] = a.FranchiseCode
	dst[2] = a.City
	dst[3] = a.State
	dst[4] = a.Bank
	dst[5] = a.BankState
	dst[6] = a.RevLineCr
	dst[7] = a.NAICS
	dst[8] = BoolString(a.SameState)
}

// BoolString is how the training frame stringified a boolean category.
func BoolString(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func optInt(p *int32) float64 {
	if p == nil {
		return math.NaN()
	}
	return float64(*p)
}

func optFloat(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// AppendJSON appends a as one JSON object (fields in FlatFields order, no
// newline) to dst.
func (a *Application) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"Term":`...)
	dst = strconv.AppendInt(dst, int64(a.Term), 10)
	dst = append(dst, `,"NoEmp":`...)
	if a.NoEmp == nil {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendInt(dst, int64(*a.NoEmp), 10)
	}
	dst = append(dst, `,"CreateJob":`...)
	dst = strconv.AppendInt(dst, int64(a.CreateJob), 10)
	dst = append(dst, `,"RetainedJob":`...)
	dst = strconv.AppendInt(dst, int64(a.RetainedJob), 10)
	dst = append(dst, `,"longitude":`...)
	dst = appendOptFloat(dst, a.Longitude)
	dst = append(dst, `,"latitude":`...)
	dst = appendOptFloat(dst, a.Latitude)
	dst = append(dst, `,"GrAppv":`...)
	dst = appendFloat(dst, a.GrAppv)
	dst = append(dst, `,"SBA_Appv":`...)
	dst = appendFloat(dst, a.SBAAppv)
	dst = append(dst, `,"is_new":`...)
	dst = strconv.AppendBool(dst, a.IsNew)
	dst = append(dst, `,"FranchiseCode":`...)
	dst = strconv.AppendQuote(dst, a.FranchiseCode)
	dst = append(dst, `,"UrbanRural":`...)
	dst = strconv.AppendInt(dst, int64(a.UrbanRural), 10)
	dst = append(dst, `,"City":`...)
	dst = strconv.AppendQuote(dst, a.City)
	dst = append(dst, `,"State":`...)
	dst = strconv.AppendQuote(dst, a.State)
	dst = append(dst, `,"Bank":`...)
	dst = strconv.AppendQuote(dst, a.Bank)
	dst = append(dst, `,"BankState":`...)
	dst = strconv.AppendQuote(dst, a.BankState)
	dst = append(dst, `,"RevLineCr":`...)
	dst = strconv.AppendQuote(dst, a.RevLineCr)
	dst = append(dst, `,"naics_first_two":`...)
	dst = strconv.AppendQuote(dst, a.NAICS)
	dst = append(dst, `,"same_state":`...)
	dst = strconv.AppendBool(dst, a.SameState)
	return append(dst, '}')
}

// AppendJSON appends l as one JSON object: the application's fields, then
// default and default_proba_true.
func (l *Labeled) AppendJSON(dst []byte) []byte {
	dst = l.Application.AppendJSON(dst)
	dst = dst[:len(dst)-1]
	dst = append(dst, `,"default":`...)
	dst = strconv.AppendInt(dst, int64(l.Default), 10)
	dst = append(dst, `,"default_proba_true":`...)
	dst = appendFloat(dst, l.DefaultProbaTrue)
	return append(dst, '}')
}

// appendFloat writes a finite float in the shortest form that round-trips;
// whole numbers keep a ".0" as the seed's examples do ("1500000.0").
func appendFloat(dst []byte, f float64) []byte {
	n := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	for _, c := range dst[n:] {
		if c == '.' {
			return dst
		}
	}
	return append(dst, ".0"...)
}

func appendOptFloat(dst []byte, p *float64) []byte {
	if p == nil {
		return append(dst, "null"...)
	}
	return appendFloat(dst, *p)
}

// SeedExamples returns the seed's two example applications (DESIGN.md).
func SeedExamples() []Application {
	i32 := func(v int32) *int32 { return &v }
	f64 := func(v float64) *float64 { return &v }
	return []Application{
		{Term: 84, NoEmp: i32(5), CreateJob: 0, RetainedJob: 5, Longitude: f64(-77.9221), Latitude: f64(35.3664),
			GrAppv: 1500000.0, SBAAppv: 1275000.0, IsNew: true, FranchiseCode: "0", UrbanRural: 1, City: "Other",
			State: "NC", Bank: "BBCN BANK", BankState: "CA", RevLineCr: "N", NAICS: "45", SameState: false},
		{Term: 19, NoEmp: i32(10), CreateJob: 0, RetainedJob: 10, Longitude: f64(-85.0117), Latitude: f64(41.0699),
			GrAppv: 3500000.0, SBAAppv: 1750000.0, IsNew: false, FranchiseCode: "1", UrbanRural: 2, City: "Other",
			State: "IN", Bank: "WELLS FARGO BANK NATL ASSOC", BankState: "SD", RevLineCr: "Y", NAICS: "81", SameState: false},
	}
}
