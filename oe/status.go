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

// Tunnels lists the installed SA pairs with their counters.
func (o *OE) Tunnels(ctx context.Context) []TunnelStatus {
	now := o.cfg.Clock.Now()
	var out []TunnelStatus
	for _, t := range o.tunnels.all() {
		c, _ := o.dp.SACounters(ctx, t.id)
		last := t.created
		if c.LastUse.After(last) {
			last = c.LastUse
		}
		id := t.peerID.String()
		if t.auth.String() == "null" {
			id = "(anonymous)"
		}
		s := TunnelStatus{
			Peer: t.peerAddr().String(), PeerID: id, Auth: authName(t.auth), Mode: t.mode.String(),
			SPIIn: fmt.Sprintf("%08x", t.inSPI()), SPIOut: fmt.Sprintf("%08x", t.outSPI()),
			InBytes: c.InBytes, OutBytes: c.OutBytes,
			Age: now.Sub(t.created).Round(time.Second).String(), Idle: now.Sub(last).Round(time.Second).String(),
			Initiator: t.initiator,
		}
		for _, ts := range t.local {
			s.Local = append(s.Local, fmt.Sprintf("%v-%v", ts.Start, ts.End))
		}
		for _, ts := range t.remote {
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
