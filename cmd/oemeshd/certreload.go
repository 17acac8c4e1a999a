package main

// SIGHUP for certificates: everything oemeshd reads of X.509 is read
// again, each part on its own, so that one bad file holds back only what
// it would have replaced: certs.crls (revocation.go), oe.cert and
// oe.cert_key (certoe.go), and the cert conns' certificates, CA bundles
// and CRLs (certconns.go), each certificate on its own (enginecert.go).

// reloadCerts reloads them into the engine e.
func (d *daemon) reloadCerts(e certSetter) {
	d.revocation.reload(d.log)
	d.oeCert.reload(e.SetCertCredential, d.log)
	d.conns.certs.reload(e, d.log)
}

// certRevocation is certs.*, read on first use (by readConns, before the
// cert conns' verifiers are built).
func (d *daemon) certRevocation() (*revocation, error) {
	if d.revocation != nil {
		return d.revocation, nil
	}
	r, err := newRevocation(d.cfg.Certs, d.clock, d.log)
	if err != nil {
		return nil, err
	}
	d.revocation = r
	return r, nil
}
