package kernel

import "fmt"

// Capability is what a backend's start-up probe found out about this host.
type Capability struct {
	Backend string // the backend probed, e.g. "xfrm"
	Usable  bool   // the backend can carry ESP here
	AEADs   []AEAD // the transforms that installed
	Reason  string // one line for the log and `oemesh status`
}

// Backend names accepted by Choose (the `dataplane:` setting).
const (
	BackendAuto      = "auto"
	BackendXFRM      = "xfrm"
	BackendUserspace = "userspace"
)

// Choose picks the backend for the configured dataplane mode ("auto",
// "xfrm" or "userspace"). probe is called only when the choice depends on it
// (auto, or xfrm to refuse a kernel that cannot do ESP). reason says why, for
// the log and `oemesh status`.
func Choose(mode string, probe func() Capability) (backend, reason string, err error) {
	switch mode {
	case BackendUserspace:
		return BackendUserspace, "dataplane: userspace is configured", nil
	case BackendXFRM:
		c := probe()
		if !c.Usable {
			return "", c.Reason, fmt.Errorf("dataplane xfrm is configured but the kernel cannot carry ESP: %s", c.Reason)
		}
		return BackendXFRM, "dataplane: xfrm is configured; " + c.Reason, nil
	case BackendAuto, "":
		c := probe()
		if c.Usable {
			return BackendXFRM, "dataplane auto chose xfrm: " + c.Reason, nil
		}
		return BackendUserspace, "dataplane auto chose userspace: " + c.Reason, nil
	}
	return "", "", fmt.Errorf("dataplane %q: want auto, xfrm or userspace", mode)
}
