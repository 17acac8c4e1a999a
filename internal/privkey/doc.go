// Package privkey reads the private keys oemesh signs with: the host key
// (dnskey) and the certificates' keys (certs). It is the one parser of
// PKCS#8, PKCS#1 and SEC1, in PEM or DER. It imports nothing of ours, and it
// never writes a key or asks for a passphrase: an encrypted key is an
// error, since a daemon has nobody to ask.
package privkey
