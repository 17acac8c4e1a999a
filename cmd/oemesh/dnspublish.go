package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/dnskey/publish"
	"github.com/oemesh/oemesh/internal/config"
)

// publishSetup is what the publish, rollover and check commands read from
// oemeshd's configuration.
type publishSetup struct {
	cfg       *config.Config
	spec      publish.Spec
	resolvers []string
	hostKey   crypto.Signer
}

func loadPublishSetup(path string) (*publishSetup, error) {
	cfg, err := config.Load(config.Options{File: path, FileRequired: true, Env: os.Environ()})
	if err != nil {
		return nil, err
	}
	r, err := dnskey.New(dnskey.Config{Servers: cfg.DNS.Servers, Timeout: cfg.DNS.Timeout})
	if err != nil {
		return nil, fmt.Errorf("dns.servers: %w", err)
	}
	key, err := dnskey.LoadHostKey(cfg.HostKey)
	if err != nil {
		return nil, err
	}
	p := cfg.DNS.Publish
	spec := publish.Spec{Forward: p.Name, Addresses: p.Addresses, AtReverse: p.Reverse, AtForward: p.Forward,
		AddressRecords: p.Address, TTL: uint32(p.TTL / time.Second), Precedence: 10}
	spec.FillFromIdentity(cfg.Identity)
	return &publishSetup{cfg: cfg, spec: spec, resolvers: r.Servers(), hostKey: key}, nil
}

func (s *publishSetup) publisher() (*publish.Publisher, error) {
	p := s.cfg.DNS.Publish
	if !p.Enabled() {
		return nil, fmt.Errorf("%s: dns.publish.records is empty: nothing to publish", s.cfg.File)
	}
	key, err := publish.LoadTSIGKey(p.TSIGKey)
	if err != nil {
		return nil, fmt.Errorf("dns.publish.tsig_key: %w", err)
	}
	return publish.New(publish.Config{Spec: s.spec, Key: key, Primary: p.Primary, Zone: p.Zone,
		Resolvers: s.resolvers, Timeout: s.cfg.DNS.Timeout + 3*time.Second})
}

func newDNSPublishCmd() *cobra.Command {
	var cfgPath string
	var withdraw bool
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish this host's records by DNS UPDATE, as oemeshd does at start",
		Long: `Publish what dns.publish of oemeshd's configuration asks (the host key's
IPSECKEY at the reverse and/or forward name, A/AAAA at the forward name) by
DNS UPDATE (RFC 2136) signed with the TSIG key of dns.publish.tsig_key, to
the zone's primary. The records become exactly ours: running it again
changes nothing. With --withdraw, delete exactly our records instead.

Exit status: 0 done; 1 the server refused (the error names the server, zone,
records and rcode) or could not be reached, or the configuration is wrong.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadPublishSetup(cfgPath)
			if err != nil {
				return err
			}
			p, err := s.publisher()
			if err != nil {
				return err
			}
			if withdraw {
				err = p.Withdraw(cmd.Context(), s.hostKey.Public())
			} else {
				err = p.Set(cmd.Context(), s.hostKey.Public())
			}
			if err != nil {
				return err
			}
			verb := "published"
			if withdraw {
				verb = "withdrew"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (key %s)\n", verb, p, dnskey.Fingerprint(s.hostKey.Public()))
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", config.DefaultFile, "oemeshd's configuration file")
	cmd.Flags().BoolVar(&withdraw, "withdraw", false, "delete our records instead of publishing them")
	return cmd
}

func newDNSRolloverCmd() *cobra.Command {
	var cfgPath, newKeyPath string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "rollover --new FILE",
		Short: "Change the host key without a peer ever holding only a key we no longer sign with",
		Long: `Roll the host key over to the private key in --new (made with
'oemesh newhostkey --out FILE'):

 1. publish the new key's IPSECKEY beside the current one;
 2. wait one TTL (dns.publish.ttl, or --wait), so that every resolver's
    cache holds both or neither;
 3. install the new key at the configured hostkey path (the old one is kept
    as PATH.old);
 4. then restart oemeshd: it signs with the new key from then on and, at
    start, publishes the new record alone.

Until oemeshd restarts it keeps signing with the old key, which stays
published, so nothing breaks if step 4 is late. Interrupting the command
before step 3 leaves both keys published and the old one in use.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if newKeyPath == "" {
				return errors.New("--new FILE is required")
			}
			s, err := loadPublishSetup(cfgPath)
			if err != nil {
				return err
			}
			newKey, err := dnskey.LoadHostKey(newKeyPath)
			if err != nil {
				return err
			}
			p, err := s.publisher()
			if err != nil {
				return err
			}
			if wait == 0 {
				wait = s.cfg.DNS.Publish.TTL
			}
			out := cmd.OutOrStdout()
			r := publish.Rollover{Set: p.Set, Old: s.hostKey.Public(), New: newKey.Public(), TTL: wait, LeaveOld: true,
				Wait: func(ctx context.Context, d time.Duration) error {
					fmt.Fprintf(out, "published %s beside %s; waiting %v (one TTL)\n",
						dnskey.Fingerprint(newKey.Public()), dnskey.Fingerprint(s.hostKey.Public()), d)
					t := time.NewTimer(d)
					defer t.Stop()
					select {
					case <-t.C:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				},
				Switch: func(context.Context) error { return installHostKey(s.cfg.HostKey, newKeyPath) },
			}
			if err := r.Run(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintf(out, "installed the new key at %s (the old one is %s.old)\nnow restart oemeshd: it signs with the new key and publishes it alone\n",
				s.cfg.HostKey, s.cfg.HostKey)
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", config.DefaultFile, "oemeshd's configuration file")
	cmd.Flags().StringVar(&newKeyPath, "new", "", "the new private key (PKCS#8 PEM, mode 0600)")
	cmd.Flags().DurationVar(&wait, "wait", 0, "how long both keys stay published before the switch (default: dns.publish.ttl)")
	return cmd
}

// installHostKey moves newPath over path, keeping the old key as path.old.
func installHostKey(path, newPath string) error {
	if err := os.Link(path, path+".old"); err != nil {
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("keep the old host key: %w", err)
		}
		if err := os.Rename(path, path+".old"); err != nil {
			return fmt.Errorf("keep the old host key: %w", err)
		}
	}
	if err := os.Rename(newPath, path); err != nil {
		return fmt.Errorf("install the new host key: %w", err)
	}
	return nil
}
