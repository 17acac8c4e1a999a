package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/config"
)

// checkConfig validates what oemeshd would run with: the configuration
// (already loaded) and the policy files. It prints what it checked.
func checkConfig(cmd *cobra.Command, cfg *config.Config) error {
	out := cmd.OutOrStdout()
	src := cfg.File
	if src == "" {
		src = "defaults (no file)"
	}
	fmt.Fprintf(out, "config: %s: ok\n", src)
	if err := checkRSA(out, cfg); err != nil {
		return err
	}
	if err := checkRevocation(out, cfg.Certs); err != nil {
		return err
	}
	if err := checkConns(out, cfg); err != nil {
		return err
	}
	if err := checkPublish(out, cfg); err != nil {
		return err
	}
	if err := checkCertOE(out, cfg.OE, time.Now()); err != nil {
		return err
	}
	if err := checkCertTrust(out, cfg.OE); err != nil {
		return err
	}
	pol, warns, err := loadPolicy(context.Background(), cfg.Policies)
	for _, w := range warns {
		fmt.Fprintf(out, "warning: %s\n", w)
	}
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(out, "policies: %s does not exist: every destination is clear\n", cfg.Policies)
		return nil
	}
	if err != nil {
		return fmt.Errorf("policies: %w", err)
	}
	for _, w := range exemptionWarnings(cfg, pol) {
		fmt.Fprintf(out, "warning: %s\n", w)
	}
	fmt.Fprintf(out, "policies: %s: ok, %d prefixes\n", cfg.Policies, pol.Len())
	return nil
}
