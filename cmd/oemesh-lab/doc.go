// Command oemesh-lab builds the standard opportunistic-encryption mesh in
// network namespaces on this machine (internal/lab), runs oemeshd on its
// hosts, drives the scenarios of issue 8 through it and prints one line per
// flow: the policy group, the outcome, the time to the first answered
// packet, the packets lost, and the proof from a capture on the LAN switch
// (ESP versus cleartext packets on the wire). `make demo` runs it.
//
// It needs root, and it removes every namespace and daemon it made on exit,
// on Ctrl-C (SIGINT/SIGTERM) and after a panic.
//
// It is a lab driver: nothing in the daemon's packages may import it.
package main
