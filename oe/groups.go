package oe

import (
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/policygroups"
)

// kernelGroup maps a policy group to the data plane's notion of it.
func kernelGroup(g policygroups.Group) kernel.Group {
	switch g {
	case policygroups.ClearOrPrivate:
		return kernel.GroupClearOrPrivate
	case policygroups.PrivateOrClear:
		return kernel.GroupPrivateOrClear
	case policygroups.Private:
		return kernel.GroupPrivate
	case policygroups.Block:
		return kernel.GroupBlock
	}
	return kernel.GroupClear
}

// failureShunt is what a negotiation that ends without a tunnel leaves
// for a flow to a destination in group g: private-or-clear falls back to
// clear, private drops. For the groups that do not initiate (a trap of an
// older policy, or a policy that changed while negotiating) it is that
// group's own answer: clear and clear-or-private pass, block drops.
func failureShunt(g policygroups.Group) kernel.ShuntKind {
	switch g {
	case policygroups.PrivateOrClear, policygroups.Clear, policygroups.ClearOrPrivate:
		return kernel.ShuntPass
	}
	return kernel.ShuntDrop
}
