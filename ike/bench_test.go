package ike

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// BenchmarkKeySchedule: SKEYSEED, the IKE SA keys and one CHILD SA's keys,
// as done once per IKE_SA_INIT/IKE_AUTH.
func BenchmarkKeySchedule(b *testing.B) {
	for _, s := range []IKESuite{
		{Encr: EncrAlg{EncrAESGCM16, 256}, PRF: PRFHMACSHA2_256},
		{Encr: EncrAlg{EncrAESGCM16, 256}, PRF: PRFHMACSHA2_512},
		{Encr: EncrAlg{EncrAESCBC, 256}, PRF: PRFHMACSHA2_256, Integ: IntegHMACSHA2_256_128},
	} {
		b.Run(s.String(), func(b *testing.B) {
			gir, ni, nr := bytes.Repeat([]byte{3}, 32), bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
			child := ChildSuite{Encr: EncrAlg{EncrAESGCM16, 256}}
			for b.Loop() {
				k, err := s.DeriveIKEKeys(SKEYSEED(s.PRF, ni, nr, gir), ni, nr, SPI{1}, SPI{2})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := child.DeriveChildKeys(s.PRF, k.SKd, nil, ni, nr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDH: generate a key pair and compute the shared secret.
func BenchmarkDH(b *testing.B) {
	for _, g := range []DHGroup{DHCurve25519, DHECP256, DHECP384, DHMODP2048} {
		peer, _ := GenerateDH(g, nil)
		b.Run(g.String(), func(b *testing.B) {
			for b.Loop() {
				k, err := GenerateDH(g, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := k.SharedSecret(peer.Public()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var benchOctets = bytes.Repeat([]byte{0x5a}, 300) // ~ an IKE_SA_INIT plus nonce and MAC

// BenchmarkAuthSign and BenchmarkAuthVerify: one AUTH payload per method.
func BenchmarkAuthSign(b *testing.B) {
	b.Run("PSK", func(b *testing.B) {
		for b.Loop() {
			SharedKeyAuth(PRFHMACSHA2_256, []byte("secret"), benchOctets)
		}
	})
	b.Run("NULL", func(b *testing.B) {
		skp := make([]byte, 32)
		for b.Loop() {
			SharedKeyAuth(PRFHMACSHA2_256, skp, benchOctets)
		}
	})
	keys := signers(b)
	for _, s := range []SignatureScheme{SigRSAPKCS1SHA1, SigRSAPKCS1SHA256, SigRSAPSSSHA256, SigRSAPSSSHA512, SigECDSAP256SHA256, SigECDSAP384SHA384, SigECDSAP521SHA512, SigEd25519} {
		b.Run(s.String(), func(b *testing.B) {
			for b.Loop() {
				if _, err := signAuth(keys[schemeKeys[s]], s, benchOctets, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAuthVerify(b *testing.B) {
	b.Run("PSK", func(b *testing.B) {
		a := SharedKeyAuth(PRFHMACSHA2_256, []byte("secret"), benchOctets)
		for b.Loop() {
			if err := VerifySharedKeyAuth(PRFHMACSHA2_256, []byte("secret"), benchOctets, a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("NULL", func(b *testing.B) {
		skp := make([]byte, 32)
		a := SharedKeyAuth(PRFHMACSHA2_256, skp, benchOctets)
		for b.Loop() {
			if err := VerifySharedKeyAuth(PRFHMACSHA2_256, skp, benchOctets, a); err != nil {
				b.Fatal(err)
			}
		}
	})
	keys := signers(b)
	for _, s := range []SignatureScheme{SigRSAPKCS1SHA1, SigRSAPKCS1SHA256, SigRSAPSSSHA256, SigRSAPSSSHA512, SigECDSAP256SHA256, SigECDSAP384SHA384, SigECDSAP521SHA512, SigEd25519} {
		k := keys[schemeKeys[s]]
		a, err := signAuth(k, s, benchOctets, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s.String(), func(b *testing.B) {
			for b.Loop() {
				if _, err := verifyAuth(a, k.Public(), benchOctets); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// bench1K is an INFORMATIONAL-like message whose SK plaintext is 1024
// octets.
func bench1K() *wire.Message {
	return &wire.Message{Header: wire.Header{SPIi: SPI{1}, SPIr: SPI{2}, Exchange: wire.Informational, MessageID: 5},
		Payloads: []wire.Payload{&wire.VendorID{Data: make([]byte, 1024-4)}}}
}

// BenchmarkSKEncrypt and BenchmarkSKDecrypt: a 1 KB SK payload.
func BenchmarkSKEncrypt(b *testing.B) {
	for _, s := range skSuites {
		c, _ := testKeys(b, s)
		m := bench1K()
		b.Run(s.Encr.String()+"/"+s.Integ.String(), func(b *testing.B) {
			b.SetBytes(1024)
			for b.Loop() {
				if _, err := m.MarshalEncrypted(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSKDecrypt(b *testing.B) {
	for _, s := range skSuites {
		c, _ := testKeys(b, s)
		raw, err := bench1K().MarshalEncrypted(c)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s.Encr.String()+"/"+s.Integ.String(), func(b *testing.B) {
			b.SetBytes(1024)
			for b.Loop() {
				m, err := wire.ParseMessage(raw)
				if err != nil {
					b.Fatal(err)
				}
				if err := m.Decrypt(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseIKESAInit: decoding a Libreswan-sized IKE_SA_INIT.
func BenchmarkParseIKESAInit(b *testing.B) {
	m := &wire.Message{Header: wire.Header{Exchange: wire.IKESAInit, Flags: wire.FlagInitiator}, Payloads: []wire.Payload{
		&wire.SA{Proposals: DefaultIKEPolicy().Proposals(nil, DHMODP2048)},
		&wire.KE{Group: DHMODP2048, Data: make([]byte, 256)},
		&wire.Nonce{Data: make([]byte, 32)},
		&wire.Notify{NotifyType: wire.NotifyFragmentationSupported},
		signatureHashNotify(),
		natDetectionNotifies(SPI{1}, SPI{}, netip.MustParseAddrPort("192.0.2.1:500"), netip.MustParseAddrPort("192.0.2.2:500"))[0],
		natDetectionNotifies(SPI{1}, SPI{}, netip.MustParseAddrPort("192.0.2.1:500"), netip.MustParseAddrPort("192.0.2.2:500"))[1],
		&wire.VendorID{Data: wire.VendorIDOpportunisticIPsec},
	}}
	raw, err := m.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := wire.ParseMessage(raw); err != nil {
			b.Fatal(err)
		}
	}
}
