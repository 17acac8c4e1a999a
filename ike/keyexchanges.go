package ike

import (
	"fmt"
	"strings"
)

// KeyExchanges lists the key exchange methods that ran to key an IKE SA,
// in order: the method of IKE_SA_INIT (or, for an SA made by an IKE SA
// rekey, of its CREATE_CHILD_SA), then each additional key exchange of
// RFC 9370 that ran, in ADDKE order. NONE is never in it: an ADDKE that
// chose NONE did not run. The SA records each method as its exchange
// completes, so an SA whose additional exchanges are still under way
// lists only those that have run.
type KeyExchanges []DHGroup

// String writes the methods with strongSwan's proposal keywords, joined
// by '+': "x25519" for a classical SA, "x25519+mlkem768" for the hybrid,
// "mlkem768" for ML-KEM alone. A method without a keyword is written
// "ke" and its number. An empty list is "".
func (k KeyExchanges) String() string {
	var b strings.Builder
	for i, g := range k {
		if i > 0 {
			b.WriteByte('+')
		}
		b.WriteString(keyExchangeKeyword(g))
	}
	return b.String()
}

// QuantumResistant reports whether at least one of the methods is a KEM
// believed to resist a quantum computer (ML-KEM): the SA's keys then do not
// fall to one that breaks the (EC)DH exchanges.
func (k KeyExchanges) QuantumResistant() bool {
	for _, g := range k {
		if g.KEM() {
			return true
		}
	}
	return false
}

// keyExchangeKeyword is the proposal keyword (proposal_syntax.go) of a
// key exchange method: the one an operator writes in `--ike` and a conn's
// `ike:`, so the key exchanges read the way they are configured. Where
// strongSwan has two keywords for a method (x25519 and curve25519), it is
// the one strongSwan prints.
func keyExchangeKeyword(g DHGroup) string {
	switch g {
	case DHMODP2048:
		return "modp2048"
	case DHMODP3072:
		return "modp3072"
	case DHMODP4096:
		return "modp4096"
	case DHECP256:
		return "ecp256"
	case DHECP384:
		return "ecp384"
	case DHECP521:
		return "ecp521"
	case DHCurve25519:
		return "x25519"
	case DHMLKEM512:
		return "mlkem512"
	case DHMLKEM768:
		return "mlkem768"
	case DHMLKEM1024:
		return "mlkem1024"
	}
	return fmt.Sprintf("ke%d", uint16(g))
}

// keyExchangeRecord is what an ikeSA keeps of its KeyExchanges: IKE_SA_INIT's
// method and up to seven additional ones (ADDKE1 to ADDKE7), unused slots
// NONE. A fixed array keeps the record inside the SA, without an
// allocation per SA.
type keyExchangeRecord [8]DHGroup

// list is the record as KeyExchanges.
func (r *keyExchangeRecord) list() KeyExchanges {
	var out KeyExchanges
	for _, g := range r {
		if g != DHNone {
			out = append(out, g)
		}
	}
	return out
}

// additional is the record's additional key exchanges (RFC 9370), in
// ADDKE order: what ran in IKE_INTERMEDIATE or, for a rekeyed SA, in
// IKE_FOLLOWUP_KE.
func (r *keyExchangeRecord) additional() []DHGroup {
	l := r.list()
	if len(l) == 0 {
		return nil
	}
	return l[1:]
}

// ranKeyExchange records that the key exchange g completed for sa: the
// IKE_SA_INIT (or rekey's CREATE_CHILD_SA) exchange, then each additional
// one in turn. A record already full is left as it is: at most eight
// exchanges can key an SA. Called with sa.mu held.
func (sa *ikeSA) ranKeyExchange(g DHGroup) {
	for i, h := range sa.kes {
		if h == DHNone {
			sa.kes[i] = g
			return
		}
	}
}

// KeyExchanges is what the trace saw key the IKE SA: the IKE_SA_INIT
// method the peer chose, then the additional exchanges that ran. It is
// empty when IKE_SA_INIT did not complete.
func (t *Trace) KeyExchanges() KeyExchanges {
	if t == nil || t.IKESuite.DH == DHNone {
		return nil
	}
	return append(KeyExchanges{t.IKESuite.DH}, t.AddKE...)
}
