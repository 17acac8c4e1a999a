package config

import (
	"strings"
	"testing"
)

// TestUDPEncap: kernel.udp_encap defaults to auto, reads from the file and
// the environment, refuses other values, and resolves per data plane.
func TestUDPEncap(t *testing.T) {
	c, err := Load(Options{})
	if err != nil || c.Kernel.UDPEncap != "auto" || c.Summary()["kernel.udp_encap"] != "auto" {
		t.Fatalf("default kernel.udp_encap: %+v, %v; want auto", c.Kernel, err)
	}
	p := write(t, "u.yaml", "kernel:\n  udp_encap: never\n")
	if c, err = Load(Options{File: p, FileRequired: true}); err != nil || c.Kernel.UDPEncap != "never" {
		t.Errorf("from the file: %+v, %v; want never", c.Kernel, err)
	}
	if c, err = Load(Options{File: p, FileRequired: true, Env: []string{"OEMESH_KERNEL_UDP_ENCAP=always"}}); err != nil || c.Kernel.UDPEncap != "always" {
		t.Errorf("from the environment: %+v, %v; want always", c.Kernel, err)
	}
	bad := write(t, "b.yaml", "kernel:\n  udp_encap: yes\n")
	if _, err = Load(Options{File: bad, FileRequired: true}); err == nil || !strings.Contains(err.Error(), "key kernel.udp_encap: must be one of auto, always, never") {
		t.Errorf("udp_encap: yes: %v; want the key and the values", err)
	}
	for _, tc := range []struct {
		mode      string
		userspace bool
		want      bool
	}{
		{"auto", true, true}, {"auto", false, false},
		{"always", true, true}, {"always", false, true},
		{"never", true, false}, {"never", false, false},
	} {
		if got := (Kernel{UDPEncap: tc.mode}).ForceUDPEncap(tc.userspace); got != tc.want {
			t.Errorf("%s on userspace %v: force %v, want %v", tc.mode, tc.userspace, got, tc.want)
		}
	}
}
