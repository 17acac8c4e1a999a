package ike

// IdentityKey buckets identities for an index kept outside the engine:
// identities SameIdentity calls the same have the same key (FQDNs with
// case folded and the final dot dropped; every DN shares one key, as DNs
// compare by meaning). Two identities with the same key may still
// differ: the index holds candidates, and SameIdentity decides.
func IdentityKey(id Identity) string {
	k := peerKeyOf(id)
	return string(rune(k.t)) + k.data
}
