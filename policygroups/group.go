package policygroups

import "fmt"

//go:generate go tool stringer -type=Group -linecomment

// Group is a FreeS/WAN policy group: what to do with traffic to an address.
type Group uint8

const (
	// Clear: never encrypt, never trap. Also the answer when nothing matches.
	Clear Group = iota // clear
	// ClearOrPrivate: send clear, but answer a peer that initiates OE.
	ClearOrPrivate // clear-or-private
	// PrivateOrClear: try OE; fall back to clear when the peer has no key.
	PrivateOrClear // private-or-clear
	// Private: OE or nothing; traffic is dropped when OE fails.
	Private // private
	// Block: drop all traffic.
	Block // block
)

// Groups lists every group in the order their files are read.
var Groups = [...]Group{Clear, ClearOrPrivate, PrivateOrClear, Private, Block}

// ParseGroup returns the group whose file name is s.
func ParseGroup(s string) (Group, error) {
	for _, g := range Groups {
		if g.String() == s {
			return g, nil
		}
	}
	return 0, fmt.Errorf("unknown policy group %q (want clear, clear-or-private, private-or-clear, private or block)", s)
}

// MarshalText makes a Group print as its name in JSON.
func (g Group) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText parses a group name.
func (g *Group) UnmarshalText(b []byte) error {
	v, err := ParseGroup(string(b))
	if err != nil {
		return err
	}
	*g = v
	return nil
}

// Initiates reports whether traffic in this group makes us start OE.
func (g Group) Initiates() bool { return g == PrivateOrClear || g == Private }

// Responds reports whether a peer in this group may set up OE with us.
func (g Group) Responds() bool { return g == ClearOrPrivate || g == PrivateOrClear || g == Private }
