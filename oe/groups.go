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

// failureShunt is what a failed negotiation leaves: private-or-clear falls
// back to clear, private drops.
func failureShunt(g policygroups.Group) kernel.ShuntKind {
	if g == policygroups.PrivateOrClear {
		return kernel.ShuntPass
	}
	return kernel.ShuntDrop
}
