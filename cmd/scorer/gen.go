package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the gen command lands; replaced by its own file.
func newGenCmd() *cobra.Command {
	return &cobra.Command{Use: "gen", Hidden: true, RunE: func(*cobra.Command, []string) error {
		return errors.New("gen: not built yet")
	}}
}
