package ike

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // crypto.SHA1 for AUTH method 1
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/oemesh/oemesh/ike/internal/wire"
	"github.com/oemesh/oemesh/internal/edsig"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// SignedOctets returns what the AUTH payload of one side covers (RFC 7296
// §2.15): that side's IKE_SA_INIT message as sent, the other side's nonce,
// and prf(SK_p, RestOfIDPayload) with that side's SK_pi or SK_pr and ID.
func SignedOctets(p PRFID, realMessage, peerNonce, skp []byte, id Identity) []byte {
	mac := p.Compute(skp, id.RestOfIDPayload())
	out := make([]byte, 0, len(realMessage)+len(peerNonce)+len(mac))
	return append(append(append(out, realMessage...), peerNonce...), mac...)
}

const keyPad = "Key Pad for IKEv2"

// SharedKeyAuth computes the AUTH data of methods 2 (the pre-shared key)
// and 13 (NULL, RFC 7619 §2.1, with SK_pi or SK_pr as the key):
// prf(prf(secret, "Key Pad for IKEv2"), SignedOctets).
func SharedKeyAuth(p PRFID, secret, signedOctets []byte) []byte {
	return p.Compute(p.Compute(secret, []byte(keyPad)), signedOctets)
}

// VerifySharedKeyAuth checks AUTH data of method 2 or 13 in constant time.
func VerifySharedKeyAuth(p PRFID, secret, signedOctets, got []byte) error {
	if !hmac.Equal(SharedKeyAuth(p, secret, signedOctets), got) {
		return fmt.Errorf("ike: AUTH payload: shared key MAC mismatch: %w", ErrAuthentication)
	}
	return nil
}

// HashAlgorithm is a value of the SIGNATURE_HASH_ALGORITHMS notify (RFC
// 7427 §4, RFC 8420).
type HashAlgorithm uint16

// Hash algorithms.
const (
	HashSHA1     HashAlgorithm = 1
	HashSHA2_256 HashAlgorithm = 2
	HashSHA2_384 HashAlgorithm = 3
	HashSHA2_512 HashAlgorithm = 4
	HashIdentity HashAlgorithm = 5
)

func (h HashAlgorithm) String() string {
	switch h {
	case HashSHA1:
		return "SHA1"
	case HashSHA2_256:
		return "SHA2_256"
	case HashSHA2_384:
		return "SHA2_384"
	case HashSHA2_512:
		return "SHA2_512"
	case HashIdentity:
		return "IDENTITY"
	}
	return fmt.Sprintf("HASH_%d", uint16(h))
}

// SupportedHashes is what we announce: SHA-1 is not accepted in RFC 7427
// signatures.
var supportedHashes = [...]HashAlgorithm{HashSHA2_256, HashSHA2_384, HashSHA2_512, HashIdentity}

// signatureHashNotify returns the SIGNATURE_HASH_ALGORITHMS notify for
// hs, or for everything we verify when hs is empty.
func signatureHashNotify(hs ...HashAlgorithm) *wire.Notify {
	if len(hs) == 0 {
		hs = supportedHashes[:]
	}
	n := &wire.Notify{NotifyType: wire.NotifySignatureHashAlgorithms, Data: make([]byte, 0, 2*len(hs))}
	for _, h := range hs {
		n.Data = append(n.Data, byte(h>>8), byte(h))
	}
	return n
}

// parseSignatureHashes decodes a SIGNATURE_HASH_ALGORITHMS notify.
func parseSignatureHashes(n *wire.Notify) ([]HashAlgorithm, error) {
	if n.NotifyType != wire.NotifySignatureHashAlgorithms {
		return nil, fmt.Errorf("ike: notify %v is not SIGNATURE_HASH_ALGORITHMS", n.NotifyType)
	}
	if len(n.Data)%2 != 0 {
		return nil, fmt.Errorf("ike: Notify payload: SIGNATURE_HASH_ALGORITHMS: %w", wire.SyntaxErrorf("odd length %d", len(n.Data)))
	}
	var out []HashAlgorithm
	s := cryptobyte.String(n.Data)
	for !s.Empty() {
		var v uint16
		s.ReadUint16(&v)
		out = append(out, HashAlgorithm(v))
	}
	return out, nil
}

// SignatureScheme is a way to sign the AUTH payload.
type SignatureScheme uint8

// Signature schemes. SigRSAPKCS1SHA1 is AUTH method 1 (the RFC 3110/DNS
// key path of FreeS/WAN and Libreswan when the peer lacks RFC 7427); all
// others are AUTH method 14.
const (
	SigRSAPKCS1SHA1 SignatureScheme = iota + 1
	SigRSAPKCS1SHA256
	SigRSAPKCS1SHA384
	SigRSAPKCS1SHA512
	SigRSAPSSSHA256
	SigRSAPSSSHA384
	SigRSAPSSSHA512
	SigECDSAP256SHA256
	SigECDSAP384SHA384
	SigECDSAP521SHA512
	SigEd25519
)

type sigKind uint8

const (
	kindRSA sigKind = iota + 1
	kindECDSA
	kindEd25519
)

type sigInfo struct {
	name  string
	kind  sigKind
	pss   bool
	hash  crypto.Hash // 0 for Ed25519
	ike   HashAlgorithm
	curve elliptic.Curve
}

var sigSchemes = map[SignatureScheme]sigInfo{
	SigRSAPKCS1SHA1:    {"rsa-pkcs1-sha1", kindRSA, false, crypto.SHA1, HashSHA1, nil},
	SigRSAPKCS1SHA256:  {"sha256WithRSAEncryption", kindRSA, false, crypto.SHA256, HashSHA2_256, nil},
	SigRSAPKCS1SHA384:  {"sha384WithRSAEncryption", kindRSA, false, crypto.SHA384, HashSHA2_384, nil},
	SigRSAPKCS1SHA512:  {"sha512WithRSAEncryption", kindRSA, false, crypto.SHA512, HashSHA2_512, nil},
	SigRSAPSSSHA256:    {"rsassa-pss-sha256", kindRSA, true, crypto.SHA256, HashSHA2_256, nil},
	SigRSAPSSSHA384:    {"rsassa-pss-sha384", kindRSA, true, crypto.SHA384, HashSHA2_384, nil},
	SigRSAPSSSHA512:    {"rsassa-pss-sha512", kindRSA, true, crypto.SHA512, HashSHA2_512, nil},
	SigECDSAP256SHA256: {"ecdsa-with-SHA256", kindECDSA, false, crypto.SHA256, HashSHA2_256, elliptic.P256()},
	SigECDSAP384SHA384: {"ecdsa-with-SHA384", kindECDSA, false, crypto.SHA384, HashSHA2_384, elliptic.P384()},
	SigECDSAP521SHA512: {"ecdsa-with-SHA512", kindECDSA, false, crypto.SHA512, HashSHA2_512, elliptic.P521()},
	SigEd25519:         {"ed25519", kindEd25519, false, 0, HashIdentity, nil},
}

func (s SignatureScheme) String() string {
	if i, ok := sigSchemes[s]; ok {
		return i.name
	}
	return fmt.Sprintf("signature scheme %d", uint8(s))
}

// Object identifiers (RFC 3279, 4055, 5758, 8410).
var (
	oidRSAPSS     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidSHA256RSA  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384RSA  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512RSA  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECDSA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidEd25519    = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidSHA256     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	hashOIDs      = map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidSHA256, crypto.SHA384: oidSHA384, crypto.SHA512: oidSHA512}
	pkcs1OIDs     = map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidSHA256RSA, crypto.SHA384: oidSHA384RSA, crypto.SHA512: oidSHA512RSA}
	ecdsaOIDs     = map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidECDSA256, crypto.SHA384: oidECDSA384, crypto.SHA512: oidECDSA512}
	tagPSSHash    = cbasn1.Tag(0).ContextSpecific().Constructed()
	tagPSSMGF     = cbasn1.Tag(1).ContextSpecific().Constructed()
	tagPSSSalt    = cbasn1.Tag(2).ContextSpecific().Constructed()
	tagPSSTrailer = cbasn1.Tag(3).ContextSpecific().Constructed()
)

// AlgorithmIdentifier returns the DER AlgorithmIdentifier that RFC 7427
// puts in front of a method-14 signature. RSA algorithms carry NULL
// parameters, ECDSA and Ed25519 none, RSASSA-PSS explicit parameters with
// MGF1 over the same hash and a salt as long as the hash (RFC 4055, with
// the defaults written out as RFC 7427 Appendix A does).
func (s SignatureScheme) AlgorithmIdentifier() ([]byte, error) {
	info, ok := sigSchemes[s]
	if !ok || s == SigRSAPKCS1SHA1 {
		return nil, fmt.Errorf("ike: %v has no RFC 7427 algorithm identifier", s)
	}
	var b cryptobyte.Builder
	hashAlg := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(hashOIDs[info.hash])
			b.AddASN1NULL()
		})
	}
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		switch {
		case info.kind == kindEd25519:
			b.AddASN1ObjectIdentifier(oidEd25519)
		case info.kind == kindECDSA:
			b.AddASN1ObjectIdentifier(ecdsaOIDs[info.hash])
		case info.pss:
			b.AddASN1ObjectIdentifier(oidRSAPSS)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(tagPSSHash, hashAlg)
				b.AddASN1(tagPSSMGF, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidMGF1)
						hashAlg(b)
					})
				})
				b.AddASN1(tagPSSSalt, func(b *cryptobyte.Builder) {
					b.AddASN1Int64(int64(info.hash.Size()))
				})
			})
		default:
			b.AddASN1ObjectIdentifier(pkcs1OIDs[info.hash])
			b.AddASN1NULL()
		}
	})
	return b.Bytes()
}

// parsedAlg is a decoded RFC 7427 AlgorithmIdentifier.
type parsedAlg struct {
	scheme SignatureScheme
	salt   int // RSASSA-PSS salt length
}

// parseAlgorithmIdentifier decodes the AlgorithmIdentifier of a method-14
// AUTH payload into one of the schemes we verify.
func parseAlgorithmIdentifier(der []byte) (parsedAlg, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1ObjectIdentifier(&oid) {
		return parsedAlg{}, wire.SyntaxErrorf("algorithm identifier: not a DER AlgorithmIdentifier")
	}
	noParams := func() bool {
		if seq.Empty() {
			return true
		}
		var null cryptobyte.String
		return seq.ReadASN1(&null, cbasn1.NULL) && null.Empty() && seq.Empty()
	}
	for h, o := range pkcs1OIDs {
		if oid.Equal(o) {
			if !noParams() {
				return parsedAlg{}, wire.SyntaxErrorf("algorithm identifier: %v: unexpected parameters", oid)
			}
			return parsedAlg{scheme: schemeFor(kindRSA, false, h)}, nil
		}
	}
	for h, o := range ecdsaOIDs {
		if oid.Equal(o) {
			if !seq.Empty() {
				return parsedAlg{}, wire.SyntaxErrorf("algorithm identifier: %v: unexpected parameters", oid)
			}
			return parsedAlg{scheme: schemeFor(kindECDSA, false, h)}, nil
		}
	}
	if oid.Equal(oidEd25519) {
		if !seq.Empty() {
			return parsedAlg{}, wire.SyntaxErrorf("algorithm identifier: Ed25519: unexpected parameters")
		}
		return parsedAlg{scheme: SigEd25519}, nil
	}
	if oid.Equal(oidRSAPSS) {
		return parsePSSParams(seq)
	}
	return parsedAlg{}, fmt.Errorf("algorithm identifier: %v not supported: %w", oid, ErrAuthentication)
}

func schemeFor(kind sigKind, pss bool, h crypto.Hash) SignatureScheme {
	for s, i := range sigSchemes {
		if i.kind == kind && i.pss == pss && i.hash == h && s != SigRSAPKCS1SHA1 {
			return s
		}
	}
	return 0
}

// parsePSSParams decodes RSASSA-PSS-params (RFC 4055 §3.1). Omitted fields
// take their defaults; the SHA-1 default is refused.
func parsePSSParams(seq cryptobyte.String) (parsedAlg, error) {
	var params cryptobyte.String
	if !seq.ReadASN1(&params, cbasn1.SEQUENCE) || !seq.Empty() {
		return parsedAlg{}, wire.SyntaxErrorf("algorithm identifier: RSASSA-PSS: parameters are not a SEQUENCE")
	}
	readHashAlg := func(s *cryptobyte.String) (crypto.Hash, bool) {
		var alg cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !s.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
			return 0, false
		}
		if !alg.Empty() {
			var null cryptobyte.String
			if !alg.ReadASN1(&null, cbasn1.NULL) || !alg.Empty() {
				return 0, false
			}
		}
		for h, o := range hashOIDs {
			if oid.Equal(o) {
				return h, true
			}
		}
		return 0, false
	}
	hash, mgfHash, salt := crypto.SHA1, crypto.SHA1, int64(20)
	var field cryptobyte.String
	var present bool
	if !params.ReadOptionalASN1(&field, &present, tagPSSHash) {
		return parsedAlg{}, wire.SyntaxErrorf("algorithm identifier: RSASSA-PSS: bad hashAlgorithm")
	}
	if present {
		var ok bool
		if hash, ok = readHashAlg(&field); !ok || !field.Empty() {
			return parsedAlg{}, fmt.Errorf("algorithm identifier: RSASSA-PSS: hashAlgorithm not SHA-256/384/512: %w", ErrAuthentication)
		}
	}
	if !params.ReadOptionalASN1(&field, &present, tagPSSMGF) {
		return parsedAlg{}, wire.SyntaxErrorf("algorithm identifier: RSASSA-PSS: bad maskGenAlgorithm")
	}
	if present {
		var mgf cryptobyte.String
		var oid asn1.ObjectIdentifier
		var ok bool
		if !field.ReadASN1(&mgf, cbasn1.SEQUENCE) || !mgf.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidMGF1) {
			return parsedAlg{}, fmt.Errorf("algorithm identifier: RSASSA-PSS: mask generation is not MGF1: %w", ErrAuthentication)
		}
		if mgfHash, ok = readHashAlg(&mgf); !ok {
			return parsedAlg{}, fmt.Errorf("algorithm identifier: RSASSA-PSS: MGF1 hash not SHA-256/384/512: %w", ErrAuthentication)
		}
	}
	if !params.ReadOptionalASN1(&field, &present, tagPSSSalt) {
		return parsedAlg{}, wire.SyntaxErrorf("algorithm identifier: RSASSA-PSS: bad saltLength")
	}
	if present && (!field.ReadASN1Int64WithTag(&salt, cbasn1.INTEGER) || salt < 0 || salt > 1024) {
		return parsedAlg{}, wire.SyntaxErrorf("algorithm identifier: RSASSA-PSS: bad saltLength")
	}
	if !params.ReadOptionalASN1(&field, &present, tagPSSTrailer) {
		return parsedAlg{}, wire.SyntaxErrorf("algorithm identifier: RSASSA-PSS: bad trailerField")
	}
	if present {
		var t int64
		if !field.ReadASN1Int64WithTag(&t, cbasn1.INTEGER) || t != 1 {
			return parsedAlg{}, wire.SyntaxErrorf("algorithm identifier: RSASSA-PSS: trailerField must be 1")
		}
	}
	if !params.Empty() {
		return parsedAlg{}, wire.SyntaxErrorf("algorithm identifier: RSASSA-PSS: trailing parameters")
	}
	if hash == crypto.SHA1 || hash != mgfHash {
		return parsedAlg{}, fmt.Errorf("algorithm identifier: RSASSA-PSS with hash %v and MGF1 hash %v not accepted: %w", hash, mgfHash, ErrAuthentication)
	}
	return parsedAlg{scheme: schemeFor(kindRSA, true, hash), salt: int(salt)}, nil
}

// ChooseSignatureScheme picks how to sign with our key given the hashes
// the peer announced in SIGNATURE_HASH_ALGORITHMS (nil when it sent none).
// RSA keys use RSASSA-PSS when the peer supports RFC 7427 and fall back to
// AUTH method 1 otherwise; ECDSA keys need the hash matching their curve;
// Ed25519 needs Identity (RFC 8420 §2).
func ChooseSignatureScheme(key crypto.PublicKey, peerHashes []HashAlgorithm) (AuthMethod, SignatureScheme, error) {
	has := func(h HashAlgorithm) bool {
		for _, x := range peerHashes {
			if x == h {
				return true
			}
		}
		return false
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		for _, s := range []SignatureScheme{SigRSAPSSSHA256, SigRSAPSSSHA384, SigRSAPSSSHA512} {
			if has(sigSchemes[s].ike) {
				return AuthDigitalSignature, s, nil
			}
		}
		return AuthRSASignature, SigRSAPKCS1SHA1, nil
	case *ecdsa.PublicKey:
		for _, s := range []SignatureScheme{SigECDSAP256SHA256, SigECDSAP384SHA384, SigECDSAP521SHA512} {
			if sigSchemes[s].curve == k.Curve {
				if !has(sigSchemes[s].ike) {
					return 0, 0, fmt.Errorf("ike: ECDSA %s key needs %v, peer announced %v", k.Curve.Params().Name, sigSchemes[s].ike, peerHashes)
				}
				return AuthDigitalSignature, s, nil
			}
		}
		return 0, 0, fmt.Errorf("ike: ECDSA curve %s not supported", k.Curve.Params().Name)
	case ed25519.PublicKey:
		if !has(HashIdentity) {
			return 0, 0, fmt.Errorf("ike: Ed25519 key needs the Identity hash, peer announced %v", peerHashes)
		}
		return AuthDigitalSignature, SigEd25519, nil
	}
	return 0, 0, fmt.Errorf("ike: unsupported key type %T", key)
}

func keyKind(pub crypto.PublicKey) (sigKind, elliptic.Curve) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return kindRSA, nil
	case *ecdsa.PublicKey:
		return kindECDSA, k.Curve
	case ed25519.PublicKey:
		return kindEd25519, nil
	}
	return 0, nil
}

func digest(h crypto.Hash, msg []byte) []byte {
	if h == 0 {
		return msg
	}
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

// signAuth signs signedOctets with key and returns the AUTH payload:
// method 1 for SigRSAPKCS1SHA1, otherwise method 14 with the RFC 7427
// AlgorithmIdentifier prefix. rnd nil means crypto/rand.
func signAuth(key crypto.Signer, s SignatureScheme, signedOctets []byte, rnd io.Reader) (*wire.Auth, error) {
	info, ok := sigSchemes[s]
	if !ok {
		return nil, fmt.Errorf("ike: sign AUTH: unknown %v", s)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	kind, curve := keyKind(key.Public())
	if kind != info.kind || (kind == kindECDSA && curve != info.curve) {
		return nil, fmt.Errorf("ike: sign AUTH: %v does not fit a %T key", s, key.Public())
	}
	var opts crypto.SignerOpts = info.hash
	if info.pss {
		opts = &rsa.PSSOptions{SaltLength: info.hash.Size(), Hash: info.hash}
	}
	sig, err := key.Sign(rnd, digest(info.hash, signedOctets), opts)
	if err != nil {
		return nil, fmt.Errorf("ike: sign AUTH with %v: %w", s, err)
	}
	if s == SigRSAPKCS1SHA1 {
		return &wire.Auth{Method: AuthRSASignature, Data: sig}, nil
	}
	alg, err := s.AlgorithmIdentifier()
	if err != nil {
		return nil, err
	}
	data := make([]byte, 0, 1+len(alg)+len(sig))
	data = append(append(append(data, byte(len(alg))), alg...), sig...)
	return &wire.Auth{Method: AuthDigitalSignature, Data: data}, nil
}

// verifyAuth checks a signature AUTH payload (method 1 or 14) over
// signedOctets with the peer's public key. accepted, when not empty,
// restricts method 14 to the listed schemes. Failures wrap
// ErrAuthentication.
func verifyAuth(a *wire.Auth, pub crypto.PublicKey, signedOctets []byte, accepted ...SignatureScheme) (SignatureScheme, error) {
	var s SignatureScheme
	var sig []byte
	salt := 0
	switch a.Method {
	case AuthRSASignature:
		s, sig = SigRSAPKCS1SHA1, a.Data
	case AuthDigitalSignature:
		if len(a.Data) < 1 || int(a.Data[0])+1 > len(a.Data) {
			return 0, fmt.Errorf("ike: AUTH payload: %w", wire.SyntaxErrorf("algorithm identifier length exceeds authentication data of %d octets", len(a.Data)))
		}
		alg, err := parseAlgorithmIdentifier(a.Data[1 : 1+int(a.Data[0])])
		if err != nil {
			if errors.Is(err, ErrAuthentication) {
				return 0, fmt.Errorf("ike: AUTH payload: %w", err)
			}
			return 0, fmt.Errorf("ike: AUTH payload: %w: %w", err, ErrAuthentication)
		}
		s, salt, sig = alg.scheme, alg.salt, a.Data[1+int(a.Data[0]):]
		if len(accepted) > 0 {
			ok := false
			for _, x := range accepted {
				ok = ok || x == s
			}
			if !ok {
				return s, fmt.Errorf("ike: AUTH payload: %v not accepted: %w", s, ErrAuthentication)
			}
		}
	default:
		return 0, fmt.Errorf("ike: AUTH payload: method %v is not a signature: %w", a.Method, ErrAuthentication)
	}
	info := sigSchemes[s]
	kind, curve := keyKind(pub)
	if kind != info.kind || (kind == kindECDSA && curve != info.curve) {
		return s, fmt.Errorf("ike: AUTH payload: %v signature does not fit the peer's %T key: %w", s, pub, ErrAuthentication)
	}
	d := digest(info.hash, signedOctets)
	var err error
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if info.pss {
			err = rsa.VerifyPSS(k, info.hash, d, sig, &rsa.PSSOptions{SaltLength: salt, Hash: info.hash})
		} else {
			err = rsa.VerifyPKCS1v15(k, info.hash, d, sig)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, d, sig) {
			err = errors.New("ecdsa verification failed")
		}
	case ed25519.PublicKey:
		if !edsig.Verify(k, d, sig) {
			err = errors.New("ed25519 verification failed")
		}
	}
	if err != nil {
		return s, fmt.Errorf("ike: AUTH payload: %v: %v: %w", s, err, ErrAuthentication)
	}
	return s, nil
}

// describeAuth summarises an AUTH payload for logs: the method and, for
// method 14, the signature algorithm.
func describeAuth(a *wire.Auth) string {
	if a.Method != AuthDigitalSignature || len(a.Data) < 1 || int(a.Data[0])+1 > len(a.Data) {
		return a.Method.String()
	}
	alg, err := parseAlgorithmIdentifier(a.Data[1 : 1+int(a.Data[0])])
	if err != nil {
		return a.Method.String() + "(" + strings.TrimPrefix(err.Error(), "algorithm identifier: ") + ")"
	}
	return a.Method.String() + "(" + alg.scheme.String() + ")"
}
