package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printTable prints one row per flow, then the steps and notes.
func printTable(w io.Writer, res *Results) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tFLOW\tFAMILY\tGROUP\tOUTCOME\tKEY EXCHANGE\tFIRST PACKET\tLOST\tESP ON WIRE\tCLEAR ON WIRE\tCHECK")
	for i, r := range res.Flows {
		first := "-"
		if r.FirstMS != nil {
			first = fmt.Sprintf("%.1f ms", *r.FirstMS)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%s\n", i+1, r.Flow, r.Family, r.Group, r.Outcome, orDash(r.KeyExchanges),
			first, r.Lost, r.Sent, r.ESP, r.Clear, checkText(r))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for i, r := range res.Flows {
		fmt.Fprintf(w, "%2d. %s → %s: %s", i+1, r.From, r.To, r.Note)
		if r.Step != "" {
			fmt.Fprintf(w, " [before: %s]", r.Step)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nFIRST PACKET: round trip of the first echo, negotiation or DNS fallback included. ESP/CLEAR ON WIRE:\n"+
		"packets counted on the LAN switch between the two hosts (for e: between a and its gateway g, and a↔e in clear).\n"+
		"KEY EXCHANGE: how the flow's IKE SA was keyed, from the initiator's `oemesh traffic`.\n"+
		"Scenarios took %.1f s.\n", res.Seconds)
	if res.SnapshotAfter > 0 {
		fmt.Fprintf(w, "\nOn a after flow %d, `oemesh traffic`:\n%s\n`oemesh shunts`:\n%s", res.SnapshotAfter, res.Traffic, res.Shunts)
	}
}

// checkText is a flow's CHECK cell: "ok", or what was wanted.
func checkText(r FlowResult) string {
	switch {
	case r.OK:
		return "ok"
	case r.Outcome == r.Expect && r.KeyExchanges != r.ExpectKeyExchanges:
		return "UNEXPECTED: want key exchange " + r.ExpectKeyExchanges
	}
	return "UNEXPECTED: want " + r.Expect
}

// orDash writes "" as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
