// Package systemd speaks the two protocols oemeshd shares with systemd:
// sd_notify (readiness, reloads, stopping, the watchdog; notify.go) and
// journald's native protocol (priorities and searchable fields;
// journal.go), with the "<N>" stderr prefix as the fallback (prefix.go).
//
// Both are a few datagrams on a unix socket whose path systemd hands over
// in the environment, so they are written here rather than imported: the
// sockets' paths stay parameters, which lets the tests listen on sockets
// of their own (go-systemd's journal package writes to a fixed path).
//
// The package never decides what to send or when: the daemon does. It
// imports nothing of oemesh.
package systemd
