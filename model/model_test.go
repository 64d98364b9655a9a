package model

import "testing"

// The serving prediction type must be what each library's own predict()
// returns for that loss: probabilities for classifiers, exp(raw) for
// log-link regressors (XGBoost's predict() of count:poisson is exp(margin),
// CatBoostRegressor.predict of Poisson is Exponent), raw otherwise.
func TestOutputServing(t *testing.T) {
	tests := []struct {
		task Task
		loss string
		want PredictionType
	}{
		{BinaryClassification, "Logloss", Probability},
		{MultiClassification, "MultiClass", Probability},
		{MultiLabel, "MultiLogloss", Probability},
		{Regression, "RMSE", RawFormulaVal},
		{Regression, "Poisson", Exponent},
		{Regression, "Tweedie:variance_power=1.5", Exponent},
		{Regression, "reg:squarederror", RawFormulaVal},
		{Regression, "count:poisson", Exponent},
		{Regression, "reg:gamma", Exponent},
		{Regression, "reg:tweedie", Exponent},
		{Regression, "survival:aft", Exponent},
		{Regression, "poisson", Exponent},
		{Regression, "regression", RawFormulaVal},
		{Regression, "", RawFormulaVal},
	}
	for _, tt := range tests {
		if got := (Output{Task: tt.task, Loss: tt.loss, Dimension: 1}).Serving(); got != tt.want {
			t.Errorf("Serving(%v, %q) = %v, want %v", tt.task, tt.loss, got, tt.want)
		}
	}
}

func TestOutputWidth(t *testing.T) {
	binary := Output{Task: BinaryClassification, Dimension: 1}
	multi := Output{Task: MultiClassification, Dimension: 3}
	label := Output{Task: MultiLabel, Dimension: 4}
	tests := []struct {
		o    Output
		p    PredictionType
		want int
	}{
		{binary, Probability, 1}, {binary, Class, 1}, {binary, RawFormulaVal, 1},
		{multi, Probability, 3}, {multi, Class, 1}, {multi, RawFormulaVal, 3},
		{label, Class, 4}, {label, MultiProbability, 4},
	}
	for _, tt := range tests {
		if got := tt.o.Width(tt.p); got != tt.want {
			t.Errorf("%v/%d Width(%v) = %d, want %d", tt.o.Task, tt.o.Dimension, tt.p, got, tt.want)
		}
	}
}

func TestBatchAppendRow(t *testing.T) {
	s := &Schema{NumFloat: 2, NumCat: 1}
	b := NewBatch(s, 1)
	for r := 0; r < 5; r++ {
		f, c := b.AppendRow()
		if f[0] == f[0] || f[1] == f[1] { // NaN != NaN: new float slots must be missing
			t.Fatalf("row %d: new float slots %v, want NaN", r, f)
		}
		f[0], f[1], c[0] = float64(r), float64(-r), string(rune('a'+r))
	}
	if err := b.Check(s); err != nil {
		t.Fatal(err)
	}
	for r := 0; r < 5; r++ {
		f, c := b.Row(r)
		if f[0] != float64(r) || f[1] != float64(-r) || c[0] != string(rune('a'+r)) {
			t.Errorf("row %d = %v %v after growing", r, f, c)
		}
	}
	b.Reset()
	if b.Rows != 0 || len(b.Floats) != 0 || len(b.Cats) != 0 {
		t.Errorf("Reset left %d rows, %d floats, %d cats", b.Rows, len(b.Floats), len(b.Cats))
	}
}
