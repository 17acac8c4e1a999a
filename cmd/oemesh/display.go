package main

// Display text for the control API's enums and numbers: what people read
// in the tables. The JSON output (--json) prints the control types as they
// are, never this text.

import (
	"time"

	"github.com/oemesh/oemesh/internal/control"
)

// authText is an authentication as the tables show it.
func authText(a control.Auth) string {
	if a == control.AuthNull {
		return "null (anonymous)"
	}
	return string(a)
}

// peerIDText is a tunnel's peer identity as the tables show it.
func peerIDText(t control.TunnelStatus) string {
	if t.Auth == control.AuthNull {
		return "(anonymous)"
	}
	return t.PeerID
}

// answerText is a cached DNS answer as the tables show it (the way dig
// names the negative answers).
func answerText(a control.Answer) string {
	switch a {
	case control.AnswerNoData:
		return "NODATA"
	case control.AnswerNXDomain:
		return "NXDOMAIN"
	}
	return string(a)
}

// gatewayText is a key's gateway as the tables show it.
func gatewayText(gw string) string {
	if gw == "" {
		return "none"
	}
	return gw
}

// explainGroupText is the group of an explanation as the tables show it:
// a conn is named beside its group.
func explainGroupText(ex control.Explanation) string {
	if ex.Conn != "" {
		return string(ex.Group) + " (conn " + ex.Conn + ")"
	}
	return string(ex.Group)
}

// seconds writes a count of seconds as a Go duration, e.g. "1m5s".
func seconds(n int64) string { return (time.Duration(n) * time.Second).String() }
