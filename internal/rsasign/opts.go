package rsasign

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
)

// request is one Sign call read the way crypto/rsa's PrivateKey.Sign reads
// it: the hash the digest was made with, the padding and, for PSS, the
// salt length in bytes.
type request struct {
	hash crypto.Hash
	pss  bool
	salt int
}

// openSSLHashes are the hashes OpenSSL signs with here: those IKE's
// signature schemes use (RFC 7427, RFC 7296 AUTH method 1), and SHA-224.
var openSSLHashes = map[crypto.Hash]bool{
	crypto.SHA1: true, crypto.SHA224: true, crypto.SHA256: true, crypto.SHA384: true, crypto.SHA512: true,
}

// errNilOpts is Sign's answer to nil opts, on which crypto/rsa panics.
var errNilOpts = errors.New("rsasign: Sign needs opts: the digest's crypto.Hash for PKCS#1 v1.5, or *rsa.PSSOptions for PSS")

// resolve checks Sign's arguments and reads them as crypto/rsa would.
// byGo is true when crypto/rsa must sign, because OpenSSL could not give
// the same signature: PSS with a random source other than crypto/rand
// (crypto/rsa draws the salt from it), an unhashed PKCS#1 v1.5 digest,
// a hash outside openSSLHashes, or a zero salt (OpenSSL reads 0 as
// "its default").
func resolve(pub *rsa.PublicKey, random io.Reader, digest []byte, opts crypto.SignerOpts) (r request, byGo bool, err error) {
	if opts == nil {
		return request{}, false, errNilOpts
	}
	if o, ok := opts.(*rsa.PSSOptions); ok {
		if o == nil {
			return request{}, false, errNilOpts
		}
		r = request{hash: o.Hash, pss: true}
		if r.hash == 0 {
			return request{}, false, errors.New("rsasign: PSS needs opts.Hash, the hash the digest was made with")
		}
	} else {
		r.hash = opts.HashFunc()
		if r.hash == 0 {
			return r, true, nil // PKCS#1 v1.5 over the bare digest, no DigestInfo
		}
	}
	if r.pss && !r.hash.Available() {
		return request{}, false, fmt.Errorf("rsasign: PSS with %v: the hash is not linked into this program", r.hash)
	}
	if len(digest) != r.hash.Size() {
		return request{}, false, fmt.Errorf("rsasign: the digest is %d bytes, but %v gives %d: Sign takes the hash of the message, not the message", len(digest), r.hash, r.hash.Size())
	}
	if r.pss {
		// crypto/rsa's rules: PSSSaltLengthAuto (0) is the longest salt
		// the key holds, PSSSaltLengthEqualsHash (-1) the hash's size.
		longest := (pub.N.BitLen()-1+7)/8 - 2 - r.hash.Size()
		if longest < 0 {
			return request{}, false, fmt.Errorf("rsasign: a %d-bit key is too short for PSS with %v", pub.N.BitLen(), r.hash)
		}
		switch s := opts.(*rsa.PSSOptions).SaltLength; {
		case s == rsa.PSSSaltLengthAuto:
			r.salt = longest
		case s == rsa.PSSSaltLengthEqualsHash:
			r.salt = r.hash.Size()
		case s < 0:
			return request{}, false, fmt.Errorf("rsasign: PSS salt length %d: want a length in bytes, rsa.PSSSaltLengthAuto or rsa.PSSSaltLengthEqualsHash", s)
		case s > longest:
			return request{}, false, fmt.Errorf("rsasign: PSS salt of %d bytes: a %d-bit key with %v holds at most %d", s, pub.N.BitLen(), r.hash, longest)
		default:
			r.salt = s
		}
		if random != rand.Reader || r.salt == 0 {
			return r, true, nil
		}
	}
	return r, !openSSLHashes[r.hash], nil
}
