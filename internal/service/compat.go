package service

import (
	"fmt"
	"slices"
	"strings"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/sink"
)

// maxListed bounds the features one incompatibility names.
const maxListed = 8

// incompatible returns why next cannot replace cur under cur's clients, or
// nil when it can. A reload is refused (unless model.reload_incompatible)
// when:
//   - the answer changes: another value field (default_proba, prediction,
//     probabilities), a scalar becoming an array, another width, or other
//     class labels; old clients would read a field that is gone;
//   - next needs a feature cur's schema lacks: every feature must be in a
//     request (ingest.Decoder), so every request of an old client would be
//     invalid_input and every async one dead-lettered;
//   - next drops a feature cur used, or reads one as another kind (a float
//     as a category): almost surely the wrong model file.
func incompatible(cur, next *model.Loaded) error {
	var why []string
	cf, ca := sink.ValueField(cur)
	nf, na := sink.ValueField(next)
	shape := func(f string, array bool, w int) string {
		if array {
			return fmt.Sprintf("%q (array of %d)", f, w)
		}
		return fmt.Sprintf("%q", f)
	}
	if cf != nf || ca != na || cur.Width() != next.Width() {
		why = append(why, fmt.Sprintf("the answer changes from %s (%s, %s) to %s (%s, %s)",
			shape(cf, ca, cur.Width()), cur.Output().Task, cur.Prediction, shape(nf, na, next.Width()), next.Output().Task, next.Prediction))
	} else if cl, nl := cur.Output().ClassLabels, next.Output().ClassLabels; cf == sink.FieldProbabilities && !slices.Equal(cl, nl) {
		why = append(why, fmt.Sprintf("the class labels change from %v to %v", cl, nl))
	}
	cs, ns := cur.Schema(), next.Schema()
	var added, dropped, kind []string
	for _, f := range ns.Features {
		old, ok := cs.Lookup(f.Name)
		switch {
		case !ok:
			added = append(added, f.Name)
		case old.Kind != f.Kind:
			kind = append(kind, fmt.Sprintf("%s (%s to %s)", f.Name, old.Kind, f.Kind))
		}
	}
	for _, f := range cs.Features {
		if _, ok := ns.Lookup(f.Name); !ok && f.Used {
			dropped = append(dropped, f.Name)
		}
	}
	if len(added) > 0 {
		why = append(why, "it requires features the serving model does not have, which current clients do not send: "+listed(added))
	}
	if len(dropped) > 0 {
		why = append(why, "it drops features the serving model uses: "+listed(dropped))
	}
	if len(kind) > 0 {
		why = append(why, "features change kind: "+listed(kind))
	}
	if len(why) == 0 {
		return nil
	}
	return fmt.Errorf("%s is incompatible with the serving %s: %s", next.Version, cur.Version, strings.Join(why, "; "))
}

// listed joins names, at most maxListed of them, counting the rest.
func listed(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxListed], ", "), len(names)-maxListed)
}
