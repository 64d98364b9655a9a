package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the health command lands; replaced by its own file.
func newHealthCmd() *cobra.Command {
	return &cobra.Command{Use: "health", Hidden: true, RunE: func(*cobra.Command, []string) error {
		return errors.New("health: not built yet")
	}}
}
