package worker_test

import (
	"context"
	"fmt"

	"github.com/loan-scorer/loan-scorer/ingest"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/demo"
	"github.com/loan-scorer/loan-scorer/worker"
)

// A sync-style caller: decode rows, hand them to the batcher with
// TrySubmit, and answer from Done.
func ExampleBatcher() {
	cb, err := catboost.Load(demo.Bytes())
	if err != nil {
		panic(err)
	}
	mdl := model.NewLoaded(cb, model.Version(demo.Name, demo.Bytes()), true)

	b := worker.NewBatcher(worker.DefaultConfig(), 2, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- b.Run(ctx) }()

	rows := model.NewBatch(mdl.Schema(), 1)
	floats, cats := rows.AppendRow()
	for i := range floats {
		floats[i] = 1
	}
	for i := range cats {
		cats[i] = "Other"
	}
	answered := make(chan struct{})
	job := &ingest.Job{Model: mdl, Rows: rows, Done: func(j *ingest.Job) {
		p := j.Out[0]
		fmt.Println("scored:", j.Err == nil, "probability in (0,1):", p > 0 && p < 1)
		close(answered)
	}}
	if err := b.TrySubmit(job); err != nil {
		fmt.Println("overloaded:", err) // answer 503
		return
	}
	<-answered
	b.Close() // soft stop: what is queued is still scored
	fmt.Println("run:", <-stopped)
	// Output:
	// scored: true probability in (0,1): true
	// run: <nil>
}
