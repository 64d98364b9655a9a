package train

import (
	"math"
	"sort"
)

// AUC returns the area under the ROC curve of scores against 0/1 labels:
// the probability that a random positive scores above a random negative,
// ties counting one half. It returns NaN when either class is absent.
func AUC(scores []float64, labels []float64) float64 {
	n := len(scores)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var pos, neg, rankSum float64
	for i := 0; i < n; {
		j := i
		for j < n && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avgRank := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if labels[idx[k]] > 0.5 {
				pos++
				rankSum += avgRank
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// LogLoss returns the mean negative log-likelihood of 0/1 labels under the
// probabilities p, each clipped to [1e-15, 1-1e-15].
func LogLoss(p []float64, labels []float64) float64 {
	var s float64
	for i, q := range p {
		q = math.Min(math.Max(q, 1e-15), 1-1e-15)
		if labels[i] > 0.5 {
			s -= math.Log(q)
		} else {
			s -= math.Log1p(-q)
		}
	}
	return s / float64(len(p))
}
