// Package control is oemeshd's control API: HTTP with JSON bodies over a
// unix socket that only root can open. The daemon registers handlers on a
// Server; the oemesh CLI talks to it through a Client.
//
// Every request and reply body of the API is declared here, and only
// here, with its JSON form and the unit or format of each field:
// types.go (status, up/down, memory), traffic.go (SA pairs and shunts),
// peers.go (the live peers and the DNS cache), clear.go (shunts clear, dns
// flush), debugkeys.go (the live SAs' keys), conns.go (configured conns),
// policy.go (the policy groups). The domain packages return typed data without JSON tags;
// cmd/oemeshd converts it (cmd/oemeshd/views.go). Machine-readable fields
// are the string enums of enums.go; display text is the CLI's business and
// never on the wire. Prose fields (reasons, errors, details) say so.
//
// It lives in internal/ because both commands use it. It must never import
// the domain packages: replies are plain data.
package control
