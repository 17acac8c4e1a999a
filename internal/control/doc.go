// Package control is oemeshd's control API: HTTP with JSON bodies over a
// unix socket that only root can open. The daemon registers handlers on a
// Server; the oemesh CLI talks to it through a Client. Shared request and
// reply types live in types.go so both sides agree on the wire.
//
// It lives in internal/ because both commands use it. It must never import
// the domain packages: replies are plain data.
package control
