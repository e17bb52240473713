package main

import (
	"os"

	"github.com/spf13/cobra"
)

// TEMPORARY stand-in for the lead's main.go; delete before handing over.
var rootCmd = &cobra.Command{Use: "cairn"}

func main() {
	if err := rootCmd.Execute(); err != nil {
		os.Exit(1)
	}
}
