// Package ipsecconf reads FreeS/WAN, Libreswan and strongSwan (stroke)
// ipsec.conf and ipsec.secrets files, so that a site can move its
// configured connections to oemesh: `oemesh import` converts the conn
// sections into oemesh's `conns:` list, and oemeshd reads pre-shared keys
// from an ipsec.secrets-format file.
//
// Opportunistic-encryption conns (right=%opportunisticgroup, %group,
// %opportunistic) become oe.* settings and the policy groups they serve
// (oe.go); `include` lines are followed, in ipsec.secrets too (include.go);
// docs/migration.md has the whole mapping.
//
// Every key of an ipsec.conf is either converted or reported with its file
// and line: nothing is dropped silently. Proposals (ike=, esp=) are
// rewritten from Libreswan's syntax into strongSwan's, which oemeshd's
// conns take (proposals.go). The files are operator input:
// malformed lines are errors naming the line, never panics.
//
// It lives in internal/ because both commands read these files. It must
// never import the domain packages (oe, ike, kernel, dnskey, policygroups)
// except dnskey's RFC 3110 key parser, which it uses to turn
// leftrsasigkey/rightrsasigkey into PEM keys. Its tests also use ike's
// proposal parser, to check that the proposals it writes are what oemeshd
// reads.
package ipsecconf
