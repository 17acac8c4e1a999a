//go:build x25519ossl && cgo

package x25519ossl

/*
#cgo LDFLAGS: -lcrypto
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

// import_pair makes a key of both halves: OpenSSL takes pub as given and
// runs no ladder for it.
static EVP_PKEY *import_pair(const unsigned char *priv, const unsigned char *pub) {
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
	if (c == NULL) return NULL;
	EVP_PKEY *k = NULL;
	OSSL_PARAM p[3];
	p[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, (void *)priv, 32);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, 32);
	p[2] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_fromdata_init(c) != 1 || EVP_PKEY_fromdata(c, &k, EVP_PKEY_KEYPAIR, p) != 1) k = NULL;
	EVP_PKEY_CTX_free(c);
	return k;
}

// derive writes X25519(k, peer) to out: 1, or 0 on any failure (OpenSSL
// refuses the all-zero result).
static int derive(EVP_PKEY *k, const unsigned char *peer, unsigned char *out) {
	EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
	EVP_PKEY_CTX *c = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
	size_t n = 32;
	int ok = p != NULL && c != NULL && EVP_PKEY_derive_init(c) == 1 &&
		EVP_PKEY_derive_set_peer_ex(c, p, 0) == 1 && EVP_PKEY_derive(c, out, &n) == 1 && n == 32;
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(p);
	ERR_clear_error();
	return ok;
}

// respond_hybrid: our key pair (priv, pub from Go), OpenSSL's secret.
static int respond_hybrid(const unsigned char *priv, const unsigned char *pub, const unsigned char *peer, unsigned char *out) {
	EVP_PKEY *k = import_pair(priv, pub);
	int ok = derive(k, peer, out);
	EVP_PKEY_free(k);
	return ok;
}

// respond_openssl: all OpenSSL's; the key from raw private octets (the
// public value by a ladder from the base point).
static int respond_openssl(const unsigned char *priv, const unsigned char *peer, unsigned char *pub, unsigned char *out) {
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	size_t n = 32;
	int ok = k != NULL && EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == 32 && derive(k, peer, out);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return ok;
}

// respond_keygen: all OpenSSL's; the key by EVP_PKEY_keygen.
static int respond_keygen(const unsigned char *peer, unsigned char *pub, unsigned char *out) {
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
	EVP_PKEY *k = NULL;
	size_t n = 32;
	int ok = c != NULL && EVP_PKEY_keygen_init(c) == 1 && EVP_PKEY_keygen(c, &k) == 1 &&
		EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == 32 && derive(k, peer, out);
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
	return ok;
}

// prepared is a derive context with its key and peer set, as openssl
// speed's loop uses: EVP_PKEY_derive on it is OpenSSL's floor.
static EVP_PKEY_CTX *prepared(const unsigned char *priv, const unsigned char *peer) {
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	if (c == NULL || EVP_PKEY_derive_init(c) != 1 || EVP_PKEY_derive_set_peer_ex(c, p, 0) != 1) {
		EVP_PKEY_CTX_free(c);
		c = NULL;
	}
	EVP_PKEY_free(k);
	EVP_PKEY_free(p);
	return c;
}

static int derive_prepared(EVP_PKEY_CTX *c, unsigned char *out) {
	size_t n = 32;
	return EVP_PKEY_derive(c, out, &n) == 1 && n == 32;
}

static void free_prepared(EVP_PKEY_CTX *c) { EVP_PKEY_CTX_free(c); }
*/
import "C"

import (
	"errors"
	"unsafe"
)

var errFailed = errors.New("x25519ossl: OpenSSL failed (or the secret is all zero)")

func u(b *[32]byte) *C.uchar { return (*C.uchar)(unsafe.Pointer(&b[0])) }

func ok(rc C.int) error {
	if rc != 1 {
		return errFailed
	}
	return nil
}

// respondHybrid computes X25519(priv, peer) through OpenSSL, given the
// public value pub of priv that our Go code computed.
func respondHybrid(priv, pub, peer *[32]byte) (secret [32]byte, err error) {
	return secret, ok(C.respond_hybrid(u(priv), u(pub), u(peer), u(&secret)))
}

// respondOpenSSL makes the key of priv and the secret with peer, both
// through OpenSSL.
func respondOpenSSL(priv, peer *[32]byte) (pub, secret [32]byte, err error) {
	return pub, secret, ok(C.respond_openssl(u(priv), u(peer), u(&pub), u(&secret)))
}

// respondKeygen draws the key in OpenSSL and makes the secret there.
func respondKeygen(peer *[32]byte) (pub, secret [32]byte, err error) {
	return pub, secret, ok(C.respond_keygen(u(peer), u(&pub), u(&secret)))
}

// prepared is a derive context with its key and peer set.
type prepared struct{ c *C.EVP_PKEY_CTX }

func newPrepared(priv, peer *[32]byte) (prepared, error) {
	c := C.prepared(u(priv), u(peer))
	if c == nil {
		return prepared{}, errFailed
	}
	return prepared{c}, nil
}

func (p prepared) derive() (secret [32]byte, err error) {
	return secret, ok(C.derive_prepared(p.c, u(&secret)))
}

func (p prepared) free() { C.free_prepared(p.c) }
