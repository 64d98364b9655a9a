package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the model command lands; replaced by its own file.
func newModelCmd() *cobra.Command {
	return &cobra.Command{Use: "model", Hidden: true, RunE: func(*cobra.Command, []string) error {
		return errors.New("model: not built yet")
	}}
}
