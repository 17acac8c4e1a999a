package config

import "fmt"

// check relates the kernel.* keys that depend on each other.
func (k Kernel) check() error {
	if k.GuardTable == k.Table {
		return fmt.Errorf("kernel.guard_table %d is kernel.table: the fail-closed guard needs a table of its own", k.GuardTable)
	}
	if k.GuardRulePriority <= k.RulePriority {
		return fmt.Errorf("kernel.guard_priority %d must be greater than kernel.rule_priority %d: the data plane's table decides first, the guard only when it is gone",
			k.GuardRulePriority, k.RulePriority)
	}
	return nil
}

// ForceUDPEncap resolves kernel.udp_encap for the data plane in use:
// auto forces UDP encapsulation on the userspace data plane, where the
// kernel segments and coalesces ESP-in-UDP (UDP GSO/GRO) but sends and
// receives raw ESP one packet per system call (bench/README.md: 1.2-1.46×
// wireguard-go against 0.53-0.58× on one TCP stream), and not on xfrm,
// whose kernel ESP has no such penalty.
func (k Kernel) ForceUDPEncap(userspace bool) bool {
	switch k.UDPEncap {
	case "always":
		return true
	case "never":
		return false
	}
	return userspace
}
