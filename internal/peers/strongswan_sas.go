package peers

import (
	"fmt"
	"strconv"
)

// IKESA is one IKE SA as charon reports it over vici (list-sas).
type IKESA struct {
	Name         string // connection name
	UniqueID     string
	State        string // CREATED, CONNECTING, ESTABLISHED, PASSIVE, REKEYING, REKEYED, DELETING
	LocalHost    string
	LocalPort    int
	LocalID      string
	RemoteHost   string
	RemotePort   int
	RemoteID     string
	Initiator    bool
	InitiatorSPI string // hex
	ResponderSPI string // hex
	NATLocal     bool   // this end is behind NAT (as detected)
	NATRemote    bool
	NATFake      bool // charon faked NAT detection (kernel-libipsec forces UDP encapsulation)
	NATAny       bool
	EncrAlg      string // e.g. AES_GCM_16
	EncrKeySize  int
	IntegAlg     string
	PRFAlg       string
	DHGroup      string
	// AdditionalKE are the RFC 9370 additional key exchanges (strongSwan 6: ake1 to ake7),
	// in order, e.g. ["ML_KEM_768"]; empty for a classical IKE SA.
	AdditionalKE []string
	// LocalVIPs and RemoteVIPs are the virtual IPs of mode config: the ones
	// charon got, and the ones it leased to the peer.
	LocalVIPs, RemoteVIPs []string
	Children              []ChildSA
	// Raw is the whole vici section, for fields not copied above.
	Raw *ViciMessage
}

// ChildSA is one CHILD SA of an IKE SA.
type ChildSA struct {
	Name        string
	UniqueID    string
	ReqID       string
	State       string // INSTALLED, REKEYING, ... (strongSwan's child_sa_state_t)
	Mode        string // TUNNEL, TRANSPORT, BEET
	Protocol    string // ESP, AH
	Encap       bool   // UDP-encapsulated ESP
	SPIIn       string // hex
	SPIOut      string
	EncrAlg     string
	EncrKeySize int
	IntegAlg    string
	DHGroup     string // PFS group, if any
	// AdditionalKE are the RFC 9370 additional key exchanges of its PFS
	// (strongSwan 6: ake1 to ake7), in order; empty without.
	AdditionalKE []string
	LocalTS      []string
	RemoteTS     []string
	BytesIn      uint64
	BytesOut     uint64
	PacketsIn    uint64
	PacketsOut   uint64
	Raw          *ViciMessage
}

// Established reports whether the IKE SA is up.
func (s IKESA) Established() bool { return s.State == "ESTABLISHED" }

// Child returns the first CHILD SA named name.
func (s IKESA) Child(name string) (ChildSA, bool) {
	for _, c := range s.Children {
		if c.Name == name {
			return c, true
		}
	}
	return ChildSA{}, false
}

// parseListSA decodes one list-sa event: {<conn name>: {ike sa fields ..., child-sas {...}}}.
func parseListSA(m *ViciMessage) ([]IKESA, error) {
	var out []IKESA
	for _, name := range m.Keys() {
		sec := m.Section(name)
		if sec == nil {
			return nil, fmt.Errorf("vici list-sa: %q is not a section", name)
		}
		sa := IKESA{
			Name:         name,
			UniqueID:     sec.Get("uniqueid"),
			State:        sec.Get("state"),
			LocalHost:    sec.Get("local-host"),
			LocalID:      sec.Get("local-id"),
			RemoteHost:   sec.Get("remote-host"),
			RemoteID:     sec.Get("remote-id"),
			Initiator:    sec.Get("initiator") == "yes",
			InitiatorSPI: sec.Get("initiator-spi"),
			ResponderSPI: sec.Get("responder-spi"),
			NATLocal:     sec.Get("nat-local") == "yes",
			NATRemote:    sec.Get("nat-remote") == "yes",
			NATFake:      sec.Get("nat-fake") == "yes",
			NATAny:       sec.Get("nat-any") == "yes",
			EncrAlg:      sec.Get("encr-alg"),
			IntegAlg:     sec.Get("integ-alg"),
			PRFAlg:       sec.Get("prf-alg"),
			DHGroup:      sec.Get("dh-group"),
			LocalVIPs:    sec.List("local-vips"),
			RemoteVIPs:   sec.List("remote-vips"),
			Raw:          sec,
		}
		for n := 1; n <= 7; n++ {
			if v := sec.Get("ake" + strconv.Itoa(n)); v != "" {
				sa.AdditionalKE = append(sa.AdditionalKE, v)
			}
		}
		var err error
		if sa.LocalPort, err = optInt(sec, "local-port"); err != nil {
			return nil, fmt.Errorf("vici list-sa %q: %w", name, err)
		}
		if sa.RemotePort, err = optInt(sec, "remote-port"); err != nil {
			return nil, fmt.Errorf("vici list-sa %q: %w", name, err)
		}
		if sa.EncrKeySize, err = optInt(sec, "encr-keysize"); err != nil {
			return nil, fmt.Errorf("vici list-sa %q: %w", name, err)
		}
		if children := sec.Section("child-sas"); children != nil {
			for _, key := range children.Keys() {
				cs := children.Section(key)
				if cs == nil {
					return nil, fmt.Errorf("vici list-sa %q: child-sas.%s is not a section", name, key)
				}
				c := ChildSA{
					Name:     cs.Get("name"),
					UniqueID: cs.Get("uniqueid"),
					ReqID:    cs.Get("reqid"),
					State:    cs.Get("state"),
					Mode:     cs.Get("mode"),
					Protocol: cs.Get("protocol"),
					Encap:    cs.Get("encap") == "yes",
					SPIIn:    cs.Get("spi-in"),
					SPIOut:   cs.Get("spi-out"),
					EncrAlg:  cs.Get("encr-alg"),
					IntegAlg: cs.Get("integ-alg"),
					DHGroup:  cs.Get("dh-group"),
					LocalTS:  cs.List("local-ts"),
					RemoteTS: cs.List("remote-ts"),
					Raw:      cs,
				}
				if c.Name == "" {
					c.Name = key
				}
				for n := 1; n <= 7; n++ {
					if v := cs.Get("ake" + strconv.Itoa(n)); v != "" {
						c.AdditionalKE = append(c.AdditionalKE, v)
					}
				}
				if c.EncrKeySize, err = optInt(cs, "encr-keysize"); err != nil {
					return nil, fmt.Errorf("vici list-sa %q child %q: %w", name, key, err)
				}
				for _, f := range []struct {
					key string
					dst *uint64
				}{{"bytes-in", &c.BytesIn}, {"bytes-out", &c.BytesOut}, {"packets-in", &c.PacketsIn}, {"packets-out", &c.PacketsOut}} {
					if v := cs.Get(f.key); v != "" {
						n, err := strconv.ParseUint(v, 10, 64)
						if err != nil {
							return nil, fmt.Errorf("vici list-sa %q child %q: %s=%q: %w", name, key, f.key, v, err)
						}
						*f.dst = n
					}
				}
				sa.Children = append(sa.Children, c)
			}
		}
		out = append(out, sa)
	}
	return out, nil
}

func optInt(m *ViciMessage, key string) (int, error) {
	v := m.Get(key)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: not a number", key, v)
	}
	return n, nil
}
