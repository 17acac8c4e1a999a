// Package certs verifies the X.509 certificates an IKE peer presents and
// loads the certificates, keys, CA bundles and CRLs that oemesh is
// configured with.
//
// A Verifier takes the DER certificates of a CERT payload chain (the end
// entity first) and the identity the peer claimed, and returns the end
// entity's public key and what to display, or a *VerifyError whose Reason
// says why not (a stable string, usable as a metric label). What it checks,
// and how that compares with strongSwan and Libreswan, is in
// docs/certificates.md.
//
// The package knows nothing of IKE's wire format or engine: the ike package
// reaches it through a small adapter that oemeshd builds. It never touches
// the network except through the HTTP client given for OCSP, and never
// reads files except through the Load functions.
package certs
