package ipsecconf

// setupIgnored are the `config setup` keys oemesh has no use for, with
// what to do instead; uniqueids, hidetos and the OCSP keys are converted
// (Convert, revocation.go).
var setupIgnored = map[string]string{
	"protostack":      "oemeshd chooses its data plane with `dataplane:`",
	"interfaces":      "oemeshd listens on `listen:` addresses",
	"plutodebug":      "use log.level",
	"klipsdebug":      "use log.level",
	"logfile":         "oemeshd logs to stderr",
	"plutostderrlog":  "oemeshd logs to stderr",
	"nat_traversal":   "NAT-T is always on in IKEv2",
	"virtual_private": "not used: IKEv2 narrows selectors instead",
	"charondebug":     "use log.level",
	"oe":              "OE is configured by the policy groups",
	"dumpdir":         "not applicable",
	"plutoopts":       "not applicable",
	"nhelpers":        "not applicable",
	"ikev1-policy":    "oemesh speaks IKEv2 only",
	"keep-alive":      "NAT keepalives are sent every 20 s",
	"myid":            "set identity: in oemesh.yaml",
	"forwardcontrol":  "enable forwarding with sysctl net.ipv4.ip_forward=1",
	"rp_filter":       "set with sysctl",
	"syslog":          "oemeshd logs to stderr",
	"overridemtu":     "not applicable",
	"secretsfile":     "give it to `oemesh import --secrets`",
	"listen":          "use listen: in oemesh.yaml",
}
