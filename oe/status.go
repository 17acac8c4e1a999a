package oe

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// TunnelStatus is one SA pair as `oemesh traffic` shows it.
type TunnelStatus struct {
	Peer      string   `json:"peer"`
	PeerID    string   `json:"peer_id"`
	Auth      string   `json:"auth"` // key, psk, or "null (anonymous)"
	Mode      string   `json:"mode"`
	Local     []string `json:"local"`
	Remote    []string `json:"remote"`
	SPIIn     string   `json:"spi_in"`
	SPIOut    string   `json:"spi_out"`
	InBytes   uint64   `json:"in_bytes"`
	OutBytes  uint64   `json:"out_bytes"`
	Age       string   `json:"age"`
	Idle      string   `json:"idle"`
	Initiator bool     `json:"initiator"`
}

// Tunnels lists the installed SA pairs with their counters: OE's and,
// from the tunnel table it shares with them, the configured conns'.
func (o *OE) Tunnels(ctx context.Context) []TunnelStatus {
	now := o.cfg.Clock.Now()
	var out []TunnelStatus
	for _, t := range o.tunnels.All() {
		c, _ := o.dp.SACounters(ctx, t.ID)
		last := t.Created
		if c.LastUse.After(last) {
			last = c.LastUse
		}
		id := t.PeerID.String()
		if t.Auth.String() == "null" {
			id = "(anonymous)"
		}
		s := TunnelStatus{
			Peer: t.Peer().String(), PeerID: id, Auth: authName(t.Auth), Mode: t.Mode.String(),
			SPIIn: fmt.Sprintf("%08x", t.InSPI()), SPIOut: fmt.Sprintf("%08x", t.OutSPI()),
			InBytes: c.InBytes, OutBytes: c.OutBytes,
			Age: now.Sub(t.Created).Round(time.Second).String(), Idle: now.Sub(last).Round(time.Second).String(),
			Initiator: t.Initiator,
		}
		for _, ts := range t.Local {
			s.Local = append(s.Local, fmt.Sprintf("%v-%v", ts.Start, ts.End))
		}
		for _, ts := range t.Remote {
			s.Remote = append(s.Remote, fmt.Sprintf("%v-%v", ts.Start, ts.End))
		}
		out = append(out, s)
	}
	return out
}

// ShuntStatus is one shunt as `oemesh shunts` shows it.
type ShuntStatus struct {
	Src     string    `json:"src"`
	Dst     string    `json:"dst"`
	Kind    string    `json:"kind"`
	Group   string    `json:"group"`
	Reason  string    `json:"reason"`
	Expires time.Time `json:"expires"`
}

// Shunts lists the shunts oe set that are still in force.
func (o *OE) Shunts() []ShuntStatus {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.cfg.Clock.Now()
	out := make([]ShuntStatus, 0, len(o.shunts))
	for _, s := range o.shunts {
		if !s.Expires.After(now) {
			continue
		}
		out = append(out, ShuntStatus{Src: s.Flow.Src.String(), Dst: s.Flow.Dst.String(), Kind: s.Kind.String(),
			Group: s.group.String(), Reason: s.Reason, Expires: s.Expires})
	}
	slices.SortFunc(out, func(a, b ShuntStatus) int { return a.Expires.Compare(b.Expires) })
	return out
}
