package main

import (
	"bufio"
	"errors"
	"io"
	"math"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/loan-scorer/loan-scorer/model"
)

func newModelExplainCmd(mf *modelFlags) *cobra.Command {
	batch := 1024
	cmd := &cobra.Command{
		Use:   "explain [PATH]",
		Short: "Explain JSON lines from stdin: one JSON array of SHAP values per line on stdout",
		Long: "explain reads applications like `scorer model predict` (JSON objects keyed by feature name, or\n" +
			"arrays in flat feature order) and writes, per line, the SHAP values of the row in CatBoost's\n" +
			"ShapValues layout: one value per feature in flat order (see `scorer model inspect`), then the\n" +
			"expected value. Values are on the raw scale (log-odds for a binary classifier) and add up to\n" +
			"the RawFormulaVal prediction. A multiclass model writes one such array per class, inside an\n" +
			"array. CatBoost models are explained as CatBoost's get_feature_importance(type='ShapValues')\n" +
			"does; XGBoost JSON models as XGBoost's pred_contribs, LightGBM models as its pred_contrib. A\n" +
			"model without the statistics SHAP needs (CatBoost leaf weights, XGBoost hessian sums, LightGBM\n" +
			"data counts) is refused with the reason before any input is read. See docs/EXPLANATIONS.md.\n" +
			"A bad line stops with an error naming it and exit code 2.",
		Example: `  echo '{"Term":84,"NoEmp":5,...}' | scorer model explain`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, _, err := mf.open(args)
			if err != nil {
				return err
			}
			if batch < 1 {
				return errors.New("--batch must be at least 1")
			}
			dims, err := model.Explained(f.Model)
			if err != nil {
				return err
			}
			return explainLines(cmd.InOrStdin(), cmd.OutOrStdout(), f.Model, dims, batch)
		},
	}
	cmd.Flags().IntVar(&batch, "batch", batch, "rows explained per call")
	return cmd
}

// explainLines explains every line of in and writes one JSON array per
// line to out (an array of arrays, one per dimension, when dims > 1).
func explainLines(in io.Reader, out io.Writer, m model.Model, dims, batchSize int) error {
	s := m.Schema()
	width := model.ExplanationWidth(s, dims)
	per := len(s.Features) + 1
	vals := make([]float64, batchSize*width)
	var line []byte
	return batchLines(in, out, s, batchSize, func(b *model.Batch, w *bufio.Writer) error {
		if err := model.Explain(m, b, vals[:b.Rows*width]); err != nil {
			return err
		}
		for r := 0; r < b.Rows; r++ {
			row := vals[r*width : (r+1)*width]
			line = line[:0]
			if dims > 1 {
				line = append(line, '[')
			}
			for k := range dims {
				if k > 0 {
					line = append(line, ',')
				}
				line = appendFloats(line, row[k*per:(k+1)*per])
			}
			if dims > 1 {
				line = append(line, ']')
			}
			line = append(line, '\n')
			if _, err := w.Write(line); err != nil {
				return err
			}
		}
		return nil
	})
}

// appendFloats appends vals as a JSON array of numbers with full float64
// precision (NaN and infinities as null).
func appendFloats(dst []byte, vals []float64) []byte {
	dst = append(dst, '[')
	for i, v := range vals {
		if i > 0 {
			dst = append(dst, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			dst = append(dst, "null"...)
			continue
		}
		dst = strconv.AppendFloat(dst, v, 'g', -1, 64)
	}
	return append(dst, ']')
}
