package train

import (
	"fmt"
	"math"
)

// Feature is one input column of a Dataset.
type Feature struct {
	Name        string
	Categorical bool
}

// Dataset holds training rows column by column. Features lists every
// column in flat order (the model's flat_feature_index); the float columns
// are in Floats and the categorical ones in Cats, each in the order they
// appear in Features. NaN in a float column is a missing value.
type Dataset struct {
	Features []Feature
	Floats   [][]float64
	Cats     [][]string
	// Labels are 0 or 1.
	Labels []float64
}

// NewDataset returns an empty dataset with the given columns.
func NewDataset(features []Feature) *Dataset {
	d := &Dataset{Features: features}
	for _, f := range features {
		if f.Categorical {
			d.Cats = append(d.Cats, nil)
		} else {
			d.Floats = append(d.Floats, nil)
		}
	}
	return d
}

// Append adds one row: floats and cats in the order of their columns.
func (d *Dataset) Append(floats []float64, cats []string, label float64) {
	for i, v := range floats {
		d.Floats[i] = append(d.Floats[i], v)
	}
	for i, v := range cats {
		d.Cats[i] = append(d.Cats[i], v)
	}
	d.Labels = append(d.Labels, label)
}

// Rows returns the number of rows.
func (d *Dataset) Rows() int { return len(d.Labels) }

// check reports what makes d untrainable.
func (d *Dataset) check() error {
	n := len(d.Labels)
	if n == 0 {
		return fmt.Errorf("%w: no rows", ErrInvalidData)
	}
	nf, nc := 0, 0
	for _, f := range d.Features {
		if f.Categorical {
			nc++
		} else {
			nf++
		}
	}
	if nf != len(d.Floats) || nc != len(d.Cats) {
		return fmt.Errorf("%w: %d float and %d categorical features declared, %d and %d columns given",
			ErrInvalidData, nf, nc, len(d.Floats), len(d.Cats))
	}
	for i, c := range d.Floats {
		if len(c) != n {
			return fmt.Errorf("%w: float column %d has %d rows, labels %d", ErrInvalidData, i, len(c), n)
		}
	}
	for i, c := range d.Cats {
		if len(c) != n {
			return fmt.Errorf("%w: categorical column %d has %d rows, labels %d", ErrInvalidData, i, len(c), n)
		}
	}
	var pos int
	for r, y := range d.Labels {
		switch y {
		case 0:
		case 1:
			pos++
		default:
			return fmt.Errorf("%w: row %d: label %v is not 0 or 1", ErrInvalidData, r, y)
		}
	}
	if pos == 0 || pos == n {
		return fmt.Errorf("%w: only one class in %d rows", ErrInvalidData, n)
	}
	for i, c := range d.Floats {
		for r, v := range c {
			if math.IsInf(v, 0) {
				return fmt.Errorf("%w: float column %d row %d is infinite", ErrInvalidData, i, r)
			}
		}
	}
	return nil
}
