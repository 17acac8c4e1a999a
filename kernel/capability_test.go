package kernel

import (
	"strings"
	"testing"
)

func TestChoose(t *testing.T) {
	yes := func() Capability { return Capability{Backend: "xfrm", Usable: true, Reason: "kernel installs ESP SAs"} }
	no := func() Capability {
		return Capability{Backend: "xfrm", Reason: "kernel has no ESP: Requested type not found"}
	}
	for _, tc := range []struct {
		mode   string
		probe  func() Capability
		want   string
		reason string
		err    bool
	}{
		{"auto", yes, BackendXFRM, "chose xfrm: kernel installs", false},
		{"", yes, BackendXFRM, "chose xfrm", false},
		{"auto", no, BackendUserspace, "chose userspace: kernel has no ESP", false},
		{"xfrm", yes, BackendXFRM, "xfrm is configured", false},
		{"xfrm", no, "", "", true},
		{"userspace", yes, BackendUserspace, "userspace is configured", false},
		{"klips", yes, "", "", true},
	} {
		got, reason, err := Choose(tc.mode, tc.probe)
		if (err != nil) != tc.err {
			t.Errorf("Choose(%q): err = %v, want error %v", tc.mode, err, tc.err)
			continue
		}
		if got != tc.want || !strings.Contains(reason, tc.reason) {
			t.Errorf("Choose(%q) = %q, %q; want %q with %q", tc.mode, got, reason, tc.want, tc.reason)
		}
	}
}
