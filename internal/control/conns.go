package control

// ConnStatus is one configured conn: an element of the reply to
// GET /v1/conns (`oemesh conn list`).
type ConnStatus struct {
	// Name is the conn's name in its file.
	Name string `json:"name"`
	// State is where the conn is in its life.
	State ConnState `json:"state"`
	// Routed is true while its remote subnets are trapped.
	Routed bool `json:"routed"`
	// Auto is what loading the conn did.
	Auto ConnAuto `json:"auto"`
	// Auth is how the peer must authenticate.
	Auth Auth `json:"auth"`
	// Local is this side's IP address.
	Local string `json:"local"`
	// Remote is the peer's IP address, or "%any" for a road-warrior conn.
	Remote string `json:"remote"`
	// LocalSubnets and RemoteSubnets are the protected prefixes (CIDR).
	LocalSubnets  []string `json:"local_subnets"`
	RemoteSubnets []string `json:"remote_subnets"`
	// Tunnels counts the conn's SA pairs now.
	Tunnels int `json:"tunnels"`
	// Peers are the addresses of the peers it has tunnels with (a
	// road-warrior conn may have several), sorted.
	Peers []string `json:"peers,omitempty"`
	// Tries counts the negotiations of the current attempt.
	Tries int `json:"tries"`
	// KeyingTries is the conn's limit on Tries; 0 means forever.
	KeyingTries int `json:"keying_tries"`
	// LastError is the last negotiation's error, in prose for people.
	LastError string `json:"last_error,omitempty"`
	// LastUpdown is the last updown run and its result, in prose for
	// people.
	LastUpdown string `json:"last_updown,omitempty"`
	// SinceSeconds is the time spent in State, in whole seconds.
	SinceSeconds int64 `json:"since_seconds"`
	// Source is the file the conn came from.
	Source string `json:"source,omitempty"`
}

// ConnRequest is the body of POST /v1/conn/{verb} (verb: up, down, route,
// unroute, replace), /v1/conns/add and /v1/secrets/reload.
type ConnRequest struct {
	// Name is the conn a verb acts on.
	Name string `json:"name,omitempty"`
	// File is the absolute path of the file /v1/conns/add reads.
	File string `json:"file,omitempty"`
}

// ConnReply answers the requests that take a ConnRequest.
type ConnReply struct {
	// OK is true when the command did what it was asked.
	OK bool `json:"ok"`
	// Detail says what was done, or why not, in prose for people.
	Detail string `json:"detail"`
}
