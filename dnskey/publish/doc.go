// Package publish writes a host's own records into DNS: its IPSECKEY at
// its reverse name and/or its forward name, and its A/AAAA at the forward
// name, by DNS UPDATE (RFC 2136) signed with TSIG (RFC 8945), sent to the
// primary server of each zone. oemeshd (dns.publish) and `oemesh dns
// publish` share this code.
//
// Every UPDATE it sends states the final contents of the RRsets it owns
// (delete the RRset, add ours, in one atomic message), so sending it again
// changes nothing and no prerequisite is needed. The rollover's first step
// only adds the new record beside what is there; adding a record that is
// already present is a no-op (RFC 2136 §3.4.2.2), so it too may be
// repeated. Withdraw deletes single records (class NONE), which is a no-op
// when they are gone.
//
// It must never publish a private key, nor delete records it does not
// own: Withdraw removes exactly the records built from our key and
// addresses, never a whole RRset.
//
// # Rollover
//
// A peer may hold our record in its cache for one TTL. To change the host
// key without a peer ever holding only a key we no longer sign with:
//
//  1. publish the new record beside the old (both in the RRset);
//  2. wait one TTL, so every cache holds both or neither;
//  3. switch signing to the new key (for oemeshd: restart it with the new
//     host key file);
//  4. publish the new record alone (oemeshd does this at start).
//
// Rollover runs the steps; see docs/dns.md for the commands.
package publish
