// Package dn compares X.500 distinguished names in their DER form, as IKE
// carries them in ID_DER_ASN1_DN and certificates carry them in their
// subject. It is below both the engine (ike: whose peer is this?) and the
// certificate verifier (certs: is this ID the subject?), so that the two
// agree on what "the same DN" means. It imports nothing of ours, and it
// never parses DNs written as text (certs.ParseDNText does).
package dn
