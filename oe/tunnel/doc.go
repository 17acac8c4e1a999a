// Package tunnel is the table of installed CHILD SA pairs that OE (oe) and
// the configured conns (oe/conn) share, and the translation of a
// negotiated CHILD SA into the data plane's terms. Each tunnel records
// which of the two installed it: OE's idle expiry, policy reloads and
// peer-reconnect replacement (replaceOlder) act on OE's tunnels only, and
// a conn's unique_ids on its own conn's only, while both see every tunnel
// (`oemesh traffic`, `oemesh down`, responder probes).
//
// It is a leaf under oe: it imports ike and kernel, never oe or oe/conn,
// and it never talks to the data plane or the engine itself.
package tunnel
