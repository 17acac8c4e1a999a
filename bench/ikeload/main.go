// Command ikeload is an IKEv2 load generator: oemesh's own IKE engine as
// many initiators, each from its own source address, against one
// responder (oemeshd, `oemesh respond` or strongSwan's charon). It runs a
// count of handshakes or for a duration, at a target rate or as fast as a
// concurrency limit allows, authenticating with a pre-shared key,
// Ed25519, RSA or NULL, with a classical or a hybrid post-quantum key
// exchange (ML-KEM-768 in IKE_INTERMEDIATE), optionally rekeying each
// CHILD SA and holding the SAs up, and reports handshakes per second,
// failures by reason and latency percentiles (a line on stderr, and JSON
// on stdout with -json).
//
// Files: config.go (flags), creds.go (authentication, `ikeload keys`),
// transport.go (the two sockets every initiator shares), run.go (the
// handshakes), report.go (what is measured). scale_test.go holds the
// side-by-side benchmark that bench/ike-scale.sh runs.
//
// It never configures the network: the caller routes the source prefix
// to the host and back (see the usage text).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "keys" {
		if err := runKeys(os.Args[2:], os.Stdout, os.Stderr); err != nil {
			exitUsage(err)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		exitUsage(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := newLoader(ctx, cfg, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ikeload:", err)
		os.Exit(1)
	}
	l.progress = os.Stderr
	rep, err := l.run(ctx)
	if cerr := l.close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ikeload:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, rep.line())
	if cfg.json {
		if err := rep.writeJSON(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ikeload:", err)
			os.Exit(1)
		}
	}
	if rep.Succeeded == 0 {
		fmt.Fprintln(os.Stderr, "ikeload:", errNoHandshake)
		os.Exit(1)
	}
}
