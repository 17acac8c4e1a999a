package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/ipsecconf"
)

func newImportCmd(g *globalFlags) *cobra.Command {
	var secrets, local, keyDir, certDir string
	cmd := &cobra.Command{
		Use:   "import IPSEC.CONF",
		Short: "Convert an ipsec.conf (OE and configured conns) into oemesh.yaml's oe: and conns: (printed as YAML)",
		Long: `import reads a FreeS/WAN, Libreswan or strongSwan ipsec.conf and prints the
equivalent oe: section and conns: list for oemesh.yaml. Opportunistic
conns (right=%opportunisticgroup, %group, %opportunistic) become oe.*
settings for the policy groups they serve; include lines are followed
(globs, relative to the including file), in the --secrets file too. A
conn's own leftid= becomes its local_id. Settings that have no oemesh
equivalent are listed with their line at the top of the output (and counted
on stderr), never dropped silently. Inline RSA keys (rightrsasigkey=0s...)
are written as PEM files into --keydir. With --secrets, PSK conns name that
ipsec.secrets file (which oemeshd reads, mode 0600) and the import checks that
it holds a key for each. Certificate conns (leftcert=, rightca=, DN IDs)
become auth: cert; since Libreswan keeps certificates in NSS under nicknames,
their files are expected under --cert-dir, and a note says how to export them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := ipsecconf.Load(args[0])
			if err != nil {
				return err
			}
			opts := ipsecconf.Options{Local: local, KeyDir: keyDir}
			if secrets != "" {
				abs, err := filepath.Abs(secrets)
				if err != nil {
					return err
				}
				if opts.Secrets, err = ipsecconf.LoadSecrets(abs); err != nil {
					return err
				}
			}
			if certDir != "" {
				if opts.CertDir, err = filepath.Abs(certDir); err != nil {
					return err
				}
			}
			if keyDir != "" {
				if opts.KeyDir, err = filepath.Abs(keyDir); err != nil {
					return err
				}
			}
			res, err := ipsecconf.Convert(f, opts)
			if err != nil {
				return err
			}
			if err := writeKeys(res.Keys); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprint(cmd.OutOrStdout(), res.YAML())
			if n := len(res.Unsupported); n > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "oemesh import: %d setting(s) not carried over; they are listed at the top of the output\n", n)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&secrets, "secrets", "", "the ipsec.secrets holding the PSKs of authby=secret conns")
	cmd.Flags().StringVar(&local, "local", "left", "which side is this host: left or right")
	cmd.Flags().StringVar(&keyDir, "keydir", "/etc/oemesh/keys", "where to write the peers' inline RSA keys as PEM")
	cmd.Flags().StringVar(&certDir, "cert-dir", "/etc/oemesh/certs", "where the certificate conns' files are to be: leftcert=NAME (an NSS nickname) becomes NAME.crt and NAME.key there, rightca= ca.crt")
	return cmd
}

// writeKeys writes the peers' public keys, refusing to overwrite a
// different key.
func writeKeys(keys map[string][]byte) error {
	paths := make([]string, 0, len(keys))
	for p := range keys {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if old, err := os.ReadFile(p); err == nil {
			if bytes.Equal(old, keys[p]) {
				continue
			}
			return fmt.Errorf("%s exists and holds another key; move it away or choose --keydir", p)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("key directory: %w", err)
		}
		if err := os.WriteFile(p, keys[p], 0o644); err != nil {
			return fmt.Errorf("writing a peer key: %w", err)
		}
	}
	return nil
}
