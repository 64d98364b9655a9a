package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/loan-scorer/loan-scorer/internal/train"
	"github.com/loan-scorer/loan-scorer/model/catboost/cbjson"
)

// write stores the model at o.out as gzipped CatBoost JSON: a gzip header
// without name or modification time, so the bytes depend only on the model.
// The file is written beside its destination and renamed into place.
func write(m *train.Model, o options, stdout io.Writer) error {
	def, err := m.Definition()
	if err != nil {
		return fmt.Errorf("build definition: %w", err)
	}
	var js bytes.Buffer
	if err := cbjson.Write(&js, def); err != nil {
		return err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(js.Bytes()); err != nil {
		return fmt.Errorf("gzip model: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("gzip model: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.out), ".traindemo-*")
	if err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(gz.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write model: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	if err := os.Rename(tmp.Name(), o.out); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s: %d bytes of JSON, %d gzipped\n", o.out, js.Len(), gz.Len())
	return nil
}
