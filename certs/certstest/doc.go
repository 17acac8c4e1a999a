// Package certstest makes test PKIs for oemesh's tests and interop tests:
// a root CA, intermediates, end-entity certificates with RSA-2048, ECDSA
// P-256 or Ed25519 keys and chosen names, usages and validity, CRLs and an
// in-process OCSP responder, and writes them as PEM files in the layouts
// strongSwan (swanctl/x509, x509ca, private) and Libreswan (plain PEM
// files) load.
//
// It is for tests only: keys are made fresh each run and never protected.
// It imports nothing of oemesh, so any package's tests may use it.
package certstest
