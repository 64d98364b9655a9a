package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the serve command lands; replaced by its own file.
func newServeCmd() *cobra.Command {
	return &cobra.Command{Use: "serve", Hidden: true, RunE: func(*cobra.Command, []string) error {
		return errors.New("serve: not built yet")
	}}
}
