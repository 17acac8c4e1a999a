package certs

import (
	"crypto/x509"
	"strings"
)

// keyUsageString names the bits of a key usage, for error messages.
func keyUsageString(ku x509.KeyUsage) string {
	names := []string{"digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
		"keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"}
	var out []string
	for i, n := range names {
		if ku&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return "[" + strings.Join(out, " ") + "]"
}

// ekuString names a certificate's extended key usages, for error messages.
func ekuString(c *x509.Certificate) string {
	names := map[x509.ExtKeyUsage]string{
		x509.ExtKeyUsageAny: "any", x509.ExtKeyUsageServerAuth: "serverAuth", x509.ExtKeyUsageClientAuth: "clientAuth",
		x509.ExtKeyUsageCodeSigning: "codeSigning", x509.ExtKeyUsageEmailProtection: "emailProtection",
		x509.ExtKeyUsageIPSECEndSystem: "ipsecEndSystem", x509.ExtKeyUsageIPSECTunnel: "ipsecTunnel",
		x509.ExtKeyUsageIPSECUser: "ipsecUser", x509.ExtKeyUsageTimeStamping: "timeStamping",
		x509.ExtKeyUsageOCSPSigning: "OCSPSigning",
	}
	var out []string
	for _, u := range c.ExtKeyUsage {
		if n, ok := names[u]; ok {
			out = append(out, n)
		} else {
			out = append(out, "other")
		}
	}
	for _, o := range c.UnknownExtKeyUsage {
		out = append(out, o.String())
	}
	return "[" + strings.Join(out, " ") + "]"
}
