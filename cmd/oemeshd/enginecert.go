package main

// A certificate the engine authenticates with, wherever it is configured
// (oe.cert for certificate OE, the default; or a cert conn's cert: and
// key:, one of the further ones), and its reload on SIGHUP: the files are
// read again with the loader they were first read with, and a good pair
// replaces the one in use from the next IKE_AUTH (through the install
// function the owner passes: ike.Engine.SetCertCredential for oe.cert,
// SetCertCredentials for the conns'); a bad one is logged with the files
// and the reason, and the old pair stays. Each certificate reloads on its
// own: one bad file holds back only its own renewal.

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/rsasign"
)

// certSetter is how a reload reaches the engine (ike.Engine).
type certSetter interface {
	SetCertCredential(*ike.CertCredential) error
	SetCertCredentials([]*ike.CertCredential) error
	SetCertAuthorities([][]byte) error
}

// engineCert is a certificate the engine authenticates with, and where it
// came from.
type engineCert struct {
	mu sync.Mutex
	// certFile and keyFile are the files, for the SIGHUP log; load reads
	// and checks them (the same checks as at start).
	certFile, keyFile string
	load              func() (*certs.KeyPair, error)
	// id is the identity we claim with it (zero: the subject DN), cred
	// the credential in use, serial its certificate's serial number.
	id     ike.Identity
	cred   *ike.CertCredential
	serial string
	now    func() time.Time // nil: time.Now
	// keys give an RSA key the signer crypto.rsa chose, at start and at
	// each reload (signWith); nil: the key as read.
	keys *rsasign.Signers
}

// newEngineCert is the engine certificate read from certFile and keyFile
// by load, which has just returned kp.
func newEngineCert(certFile, keyFile string, id ike.Identity, kp *certs.KeyPair, load func() (*certs.KeyPair, error)) *engineCert {
	return &engineCert{certFile: certFile, keyFile: keyFile, load: load, id: id,
		cred: newCertCredential(kp, id), serial: kp.Leaf().SerialNumber.String()}
}

// newCertCredential is the engine's view of our certificate. The chain
// goes into every IKE_AUTH: a configured peer or an OE client may not have
// it, and Libreswan's default (sendcert=always) does the same.
func newCertCredential(kp *certs.KeyPair, id ike.Identity) *ike.CertCredential {
	return &ike.CertCredential{Chain: kp.DER(), Signer: kp.Key, ID: id, Send: ike.SendCertAlways}
}

// signWith gives the key in use, and every key a reload reads, the signer
// wrapKey gives it (an Ed25519 key edsig's, an RSA key the one keys
// choose). Nil ec or keys: nothing to do.
func (ec *engineCert) signWith(keys *rsasign.Signers) error {
	if ec == nil || keys == nil {
		return nil
	}
	ec.mu.Lock()
	defer ec.mu.Unlock()
	k, err := wrapKey(keys, ec.cred.Signer)
	if err != nil {
		return fmt.Errorf("%s: %w", ec.keyFile, err)
	}
	cred := *ec.cred
	cred.Signer = k
	ec.cred, ec.keys = &cred, keys
	return nil
}

// credential is the credential in use; nil for a nil engineCert.
func (ec *engineCert) credential() *ike.CertCredential {
	if ec == nil {
		return nil
	}
	ec.mu.Lock()
	defer ec.mu.Unlock()
	return ec.cred
}

// reload reads the files again (SIGHUP) and hands a good pair to
// install, which puts it into the engine; the pair is ours only when
// install takes it. A nil engineCert has nothing to reload.
func (ec *engineCert) reload(install func(*ike.CertCredential) error, log *slog.Logger) {
	if ec == nil {
		return
	}
	ec.mu.Lock()
	old := ec.serial
	keys := ec.keys
	ec.mu.Unlock()
	kp, err := ec.load()
	if err == nil {
		if kp.Key, err = wrapKey(keys, kp.Key); err != nil {
			err = fmt.Errorf("%s: %w", ec.keyFile, err)
		}
	}
	var cred *ike.CertCredential
	if err == nil {
		cred = newCertCredential(kp, ec.id)
		err = install(cred)
	}
	if err != nil {
		log.Error("SIGHUP: certificate not reloaded; keeping the one in use", "cert", ec.certFile, "key", ec.keyFile, "err", err)
		return
	}
	leaf := kp.Leaf()
	s := leaf.SerialNumber.String()
	ec.mu.Lock()
	ec.cred, ec.serial = cred, s
	ec.mu.Unlock()
	log.Info("SIGHUP: certificate reloaded", "cert", ec.certFile, "subject", leaf.Subject.String(),
		"serial", s, "old_serial", old, "not_after", leaf.NotAfter)
	now := time.Now
	if ec.now != nil {
		now = ec.now
	}
	if t := now(); t.After(leaf.NotAfter) || t.Before(leaf.NotBefore) {
		log.Warn("SIGHUP: the reloaded certificate is not valid now: peers will refuse it",
			"cert", ec.certFile, "not_before", leaf.NotBefore, "not_after", leaf.NotAfter)
	}
}

// checkKeyFileMode refuses a private key file that others than its owner
// may read, as the host key and the PSK secrets file are refused.
func checkKeyFileMode(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("private key file %s has mode %04o: others can read the key; it must be 0600 (chmod 600 %s)", path, m, path)
	}
	return nil
}
