// Command ikeflood floods an IKE responder with well-formed IKE_SA_INIT
// requests from random addresses of a spoofed IPv4 prefix, as
// internal/reliability's TestIKEFlood does, and reports the rate it
// achieved and, with -answers, what came back (cookie demands or full
// answers). Run it in a network namespace whose routes carry the prefix
// to the target, and, for -answers, where the prefix is local
// (ip route add local PREFIX dev lo) and the target routes it back:
//
//	ip netns exec flooder ikeflood -target 198.18.0.2:500 -sources 100.64.0.0/16 -duration 20s
//
// Never point it at a host outside a test bed of your own.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/oemesh/oemesh/internal/reliability/flooder"
)

func main() {
	target := flag.String("target", "", "the responder's IKE address:port (IPv4)")
	sources := flag.String("sources", "100.64.0.0/16", "the prefix the requests come from")
	rate := flag.Int("rate", 0, "requests per second (0: as fast as the socket takes them)")
	duration := flag.Duration("duration", 10*time.Second, "how long to flood")
	workers := flag.Int("workers", 2, "sending goroutines")
	answers := flag.Bool("answers", false, "count the answers on UDP port 500 (the prefix must be local here)")
	flag.Parse()
	if err := run(*target, *sources, *rate, *duration, *workers, *answers); err != nil {
		fmt.Fprintln(os.Stderr, "ikeflood:", err)
		os.Exit(1)
	}
}

func run(target, sources string, rate int, duration time.Duration, workers int, count bool) error {
	t, err := netip.ParseAddrPort(target)
	if err != nil {
		return fmt.Errorf("-target %q: %w", target, err)
	}
	s, err := netip.ParsePrefix(sources)
	if err != nil {
		return fmt.Errorf("-sources %q: %w", sources, err)
	}
	var a *flooder.Answers
	if count {
		if a, err = flooder.ListenAnswers(500); err != nil {
			return err
		}
		defer a.Close()
	}
	f, err := flooder.Open(flooder.Config{Target: t, Sources: s, Rate: rate, Workers: workers})
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	res := f.Run(ctx)
	fmt.Println(res)
	if a != nil {
		time.Sleep(200 * time.Millisecond) // the last answers
		c := a.Counts()
		fmt.Printf("answers: %v (%.0f/s)\n", c, float64(c.Cookies+c.Full+c.Other)/res.Elapsed.Seconds())
	}
	return nil
}
