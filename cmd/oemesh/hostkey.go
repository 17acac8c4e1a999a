package main

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/dnskey"
)

const defaultHostKey = "/etc/oemesh/hostkey.pem"

type hostKeyInfo struct {
	Path        string `json:"path"`
	Type        string `json:"type"`
	Fingerprint string `json:"fingerprint"`
}

func keyType(pub crypto.PublicKey) string {
	alg, _, err := dnskey.MarshalPublicKey(pub)
	if err != nil {
		return fmt.Sprintf("%T", pub)
	}
	return alg.String()
}

func newNewHostKeyCmd(g *globalFlags) *cobra.Command {
	var kind, out string
	var bits int
	var force bool
	cmd := &cobra.Command{
		Use:   "newhostkey",
		Short: "Make this host's private key (PKCS#8 PEM, mode 0600)",
		Long: `Make a new private key for this host's IKE authentication and write it as
PKCS#8 PEM with mode 0600. An existing file is never replaced unless --force
is given. Publish the public half with 'oemesh showhostkey'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := dnskey.GenerateHostKey(kind, bits)
			if err != nil {
				return err
			}
			if err := dnskey.WriteHostKey(out, key, force); err != nil {
				return err
			}
			info := hostKeyInfo{Path: out, Type: keyType(key.Public()), Fingerprint: dnskey.Fingerprint(key.Public())}
			if g.json {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(info)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s key to %s\nfingerprint %s\n", info.Type, info.Path, info.Fingerprint)
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "type", dnskey.HostKeyEd25519, "key type: ed25519, rsa or ecdsa")
	cmd.Flags().IntVar(&bits, "bits", 0, "key size: RSA 2048-8192 (default 3072), ECDSA 256 or 384 (default 256)")
	cmd.Flags().StringVar(&out, "out", defaultHostKey, "file to write")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing key file")
	return cmd
}

type showHostKeyFlags struct {
	hostKey, name, id, gateway string
	precedence                 int
	ttl                        uint32
	ipseckey, txt, key         bool
}

func newShowHostKeyCmd(g *globalFlags) *cobra.Command {
	f := &showHostKeyFlags{}
	cmd := &cobra.Command{
		Use:   "showhostkey (--ipseckey|--txt|--key)",
		Short: "Print the DNS record that publishes this host's public key",
		Long: `Print zone-file lines that publish this host's public key, for miekg/dns,
nsd, knot or BIND zones:

  --ipseckey  IPSECKEY (RFC 4025); any key type. What Libreswan reads.
  --txt       TXT X-IPsec-Server (RFC 4322, FreeS/WAN); RSA keys only.
  --key       KEY, protocol 4 (RFC 4322, FreeS/WAN); RSA keys only.

The owner name is --name, or the reverse name (in-addr.arpa/ip6.arpa) of
--id, or the FQDN of an --id @fqdn. Without either, the address this host
uses for its default route is the ID (found by routing, no packet is sent).
--gateway is an address or @fqdn; IPSECKEY omits it by default (the host is
its own gateway), TXT defaults to the ID.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lines, err := showHostKey(f)
			if err != nil {
				return err
			}
			if g.json {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string][]string{"records": lines})
			}
			for _, l := range lines {
				fmt.Fprintln(cmd.OutOrStdout(), l)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.hostKey, "hostkey", defaultHostKey, "private key file (from newhostkey)")
	fl.BoolVar(&f.ipseckey, "ipseckey", false, "print an IPSECKEY record")
	fl.BoolVar(&f.txt, "txt", false, "print a TXT X-IPsec-Server record")
	fl.BoolVar(&f.key, "key", false, "print a KEY record")
	fl.StringVar(&f.name, "name", "", "owner name (default: the reverse name or FQDN of the ID)")
	fl.StringVar(&f.id, "id", "", "this host's ID: ADDR or @FQDN (default: the default-route source address)")
	fl.StringVar(&f.gateway, "gateway", "", "gateway: ADDR or @FQDN (IPSECKEY default none, TXT default the ID)")
	fl.IntVar(&f.precedence, "precedence", 10, "precedence, lower preferred (IPSECKEY 0-255, TXT 0-65535)")
	fl.Uint32Var(&f.ttl, "ttl", 3600, "record TTL in seconds")
	return cmd
}

func showHostKey(f *showHostKeyFlags) ([]string, error) {
	if !f.ipseckey && !f.txt && !f.key {
		return nil, errors.New("say which record: --ipseckey, --txt or --key")
	}
	key, err := dnskey.LoadHostKey(f.hostKey)
	if err != nil {
		return nil, err
	}
	var id dnskey.ID
	if f.id != "" {
		if id, err = dnskey.ParseID(f.id); err != nil {
			return nil, fmt.Errorf("--id: %w", err)
		}
	} else if f.name == "" || f.txt && f.gateway == "" {
		a, err := defaultRouteAddr()
		if err != nil {
			return nil, fmt.Errorf("cannot find this host's address (%w); give --id or --name", err)
		}
		id = dnskey.AddrID(a)
	}
	name := f.name
	if name == "" {
		if name, err = id.QueryName(); err != nil {
			return nil, err
		}
	}
	gw, err := dnskey.ParseGateway(f.gateway)
	if err != nil {
		return nil, fmt.Errorf("--gateway: %w", err)
	}
	spec := dnskey.RecordSpec{Name: name, TTL: f.ttl, Precedence: f.precedence, Gateway: gw, PublicKey: key.Public()}
	var lines []string
	if f.ipseckey {
		rr, err := dnskey.IPSECKEYRecord(spec)
		if err != nil {
			return nil, err
		}
		lines = append(lines, rr.String())
	}
	if f.txt {
		ts := spec
		if ts.Gateway.Kind == dnskey.GatewayNone {
			if ts.Gateway, err = dnskey.ParseGateway(id.String()); err != nil {
				return nil, fmt.Errorf("TXT gateway from the ID: %w", err)
			}
		}
		rr, err := dnskey.TXTRecordRR(ts)
		if err != nil {
			return nil, err
		}
		lines = append(lines, rr.String())
	}
	if f.key {
		rr, err := dnskey.KEYRecord(spec)
		if err != nil {
			return nil, err
		}
		lines = append(lines, rr.String())
	}
	// What we print must read back: check it with the zone-file parser.
	for _, l := range lines {
		if _, err := dns.NewRR(l); err != nil {
			return nil, fmt.Errorf("internal error: printed record does not parse: %w: %s", err, strings.TrimSpace(l))
		}
	}
	return lines, nil
}

// defaultRouteAddr is the source address the kernel picks toward a TEST-NET
// address: connecting a UDP socket only consults the routing table.
func defaultRouteAddr() (netip.Addr, error) {
	for _, dst := range []string{"192.0.2.1:500", "[2001:db8::1]:500"} {
		c, err := net.Dial("udp", dst)
		if err != nil {
			continue
		}
		a := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
		c.Close()
		if a.IsValid() && !a.IsLoopback() && !a.IsUnspecified() {
			return a, nil
		}
	}
	return netip.Addr{}, errors.New("no route to pick a source address from")
}
