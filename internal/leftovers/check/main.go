// Command check fails, naming each, if oemesh's tests left anything
// behind on this machine (see package leftovers). `make test` runs it last,
// also when the tests failed.
//
//	go run ./internal/leftovers/check        # spares the namespaces of runs still going
//	go run ./internal/leftovers/check -all   # spares nothing
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/oemesh/oemesh/internal/leftovers"
)

func main() {
	all := flag.Bool("all", false, "count the namespaces of runs still going too")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "leftovers: needs root, to read every process's namespace and the XFRM tables")
		os.Exit(2)
	}
	s := leftovers.Scanner{}
	if !*all {
		s.Live = leftovers.LivePIDs("")
	}
	items, err := s.Scan()
	for _, it := range items {
		fmt.Println("leftover:", it)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "leftovers: could not look everywhere:", err)
		os.Exit(2)
	}
	if len(items) > 0 {
		fmt.Printf("leftovers: the tests left %d behind (ip netns del NAME removes a namespace; the next e2e or reliability run sweeps those of dead runs)\n", len(items))
		os.Exit(1)
	}
	fmt.Println("leftovers: none")
}
