// Package lab builds small networks of Linux network namespaces on one
// machine — hosts, switches (a bridge in a namespace of its own), direct
// links, addresses and routes — for cmd/oemesh-lab (the `make demo` mesh) and
// for the end-to-end tests. It also carries the lab's embedded DNS server and
// a wire capture that tells ESP from cleartext.
//
// Unlike internal/netnstest it does not depend on package testing: a program
// owns a Lab and must call Close, which removes every namespace it made
// (and with them their interfaces). Namespace names carry a prefix chosen
// by the caller, so two labs never collide.
//
// mesh.go builds the standard OE mesh of the demo and the end-to-end tests
// on top of that: it imports dnskey only to make host keys and publish their
// records. It must never be imported by the daemon or by the domain
// packages: it is a test bed. resolve.go asks the mesh's resolver from a
// host as unbound's ipsecmod does before it calls its hook, and stops the
// embedded server for a mesh whose DNS host runs real servers.
package lab
