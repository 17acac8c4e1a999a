package publish

import (
	"fmt"

	"github.com/miekg/dns"
)

// UpdateError is an UPDATE the server did not apply: it names the server,
// the zone, the records and the server's answer.
type UpdateError struct {
	Server  string // HOST:PORT of the primary
	Zone    string
	Records string // "IPSECKEY b.example., A b.example."
	Rcode   int    // -1 when no answer came
	// TSIGError is the TSIG record's error field in the answer (RFC 8945
	// §5.3: BADSIG 16, BADKEY 17, BADTIME 18), 0 if none.
	TSIGError uint16
	Err       error // transport or signature failure; nil if the server answered
}

func (e *UpdateError) Error() string {
	where := fmt.Sprintf("DNS UPDATE of zone %s at %s (%s)", e.Zone, e.Server, e.Records)
	if e.Rcode < 0 {
		return fmt.Sprintf("%s: %v", where, e.Err)
	}
	msg := fmt.Sprintf("%s: server answered %s", where, rcodeName(e.Rcode))
	if e.TSIGError != 0 {
		msg += fmt.Sprintf(" with TSIG error %s", rcodeName(int(e.TSIGError)))
	}
	if hint := e.hint(); hint != "" {
		msg += ": " + hint
	}
	if e.Err != nil {
		msg += fmt.Sprintf(" (%v)", e.Err)
	}
	return msg
}

func (e *UpdateError) Unwrap() error { return e.Err }

// hint says what the rcode usually means for an operator.
func (e *UpdateError) hint() string {
	switch {
	case e.TSIGError == dns.RcodeBadKey:
		return "the server does not know our TSIG key (name or algorithm); check dns.publish.tsig_key against the server's key list"
	case e.TSIGError == dns.RcodeBadSig:
		return "our TSIG signature did not verify: the secret differs from the server's"
	case e.TSIGError == dns.RcodeBadTime:
		return "the server's clock and ours differ by more than the TSIG fudge (300s)"
	case e.Rcode == dns.RcodeNotAuth:
		return "the server refused our TSIG key or is not authoritative for the zone"
	case e.Rcode == dns.RcodeRefused:
		return "the server's policy does not allow this key to update these records (ACL)"
	case e.Rcode == dns.RcodeNotZone:
		return "a record is outside the zone"
	case e.Rcode == dns.RcodeServerFailure:
		return "the server failed to apply the update"
	}
	return ""
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return fmt.Sprintf("%s (%d)", s, rc)
	}
	return fmt.Sprintf("rcode %d", rc)
}
