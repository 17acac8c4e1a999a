package ike

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/netip"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/internal/edsig"
)

// killAll removes every SA of p without telling the peer.
func killAll(p *testPeer) {
	for _, sa := range p.e.allSAs() {
		sa.lock()
		sa.die(errLocalDelete, false)
		sa.unlock()
	}
}

// certsVerifier hands a certs.Verifier to the engine, as oemeshd's and
// the tools' adapters do, so that the benchmark measures the verification
// the daemon runs.
type certsVerifier struct{ v *certs.Verifier }

func (a certsVerifier) VerifyCert(ctx context.Context, chain [][]byte, peer Identity) (crypto.PublicKey, error) {
	res, err := a.v.Verify(ctx, chain, certs.ID{Type: certs.IDType(peer.Type), Data: peer.Data})
	if err != nil {
		return nil, err
	}
	return res.PublicKey, nil
}

// benchCertAuth sets up certificate authentication for the benchmark:
// each side gets a certificate for its own key from one test CA (a
// P-256 root and a P-256 intermediate, both sent, as most deployments
// do), and verifies the other's with certs.
func benchCertAuth(b *testing.B, ca *certstest.CA, root *x509.Certificate) func(*EngineConfig) {
	v, err := certs.New(certs.Config{Roots: []*x509.Certificate{root}})
	if err != nil {
		b.Fatal(err)
	}
	return func(cfg *EngineConfig) {
		key := cfg.Credentials.Signer
		c := ca.Issue(b, certstest.Options{Subject: pkix.Name{CommonName: "bench", Organization: []string{"oemesh test"}}, Signer: key,
			DNSNames: []string{"bench.example"}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
		cfg.Credentials.Cert = &CertCredential{Chain: c.DER(), Signer: key}
		cfg.CertVerifier = certsVerifier{v}
		cfg.CertAuthorities = [][]byte{CAKeyHash(root)}
	}
}

// BenchmarkHandshake runs IKE_SA_INIT and IKE_AUTH with one CHILD SA
// between two engines in memory and reports the responder's share:
// resp-ns/op is the CPU time (CLOCK_THREAD_CPUTIME_ID, so time lost to
// other processes on a busy machine does not count) spent in the
// responder's HandlePacket calls, and resp-B/op and resp-allocs/op the
// bytes and the allocations it made. ns/op, B/op and allocs/op cover both
// sides and the test harness. The cert- cases authenticate both sides
// with certificates (benchCertAuth): the responder's share then includes
// verifying the initiator's chain with certs.
// hostEd25519 is an Ed25519 key as oemeshd and the CLI sign with it:
// through internal/edsig.
func hostEd25519(b *testing.B) crypto.Signer { return edsig.Wrap(newEd25519(b)) }

func BenchmarkHandshake(b *testing.B) {
	rsaKey, p256Key := signers(b)["rsa"], signers(b)["p256"]
	root := certstest.NewRoot(b, "bench Root CA")
	inter := root.NewIntermediate(b, "bench Intermediate CA")
	for _, c := range []struct {
		name   string
		signer func() crypto.Signer
		auth   AuthKind
		ke     DHGroup // the IKE_SA_INIT key exchange; DHNone: the default policy's
		addke  DHGroup // ADDKE1, run in IKE_INTERMEDIATE; DHNone: none
	}{
		{"ed25519", func() crypto.Signer { return hostEd25519(b) }, AuthKindPubkey, DHNone, DHNone},
		{"rsa2048", func() crypto.Signer { return rsaKey }, AuthKindPubkey, DHNone, DHNone},
		{"psk", func() crypto.Signer { return newEd25519(b) }, AuthKindPSK, DHNone, DHNone},
		{"null", func() crypto.Signer { return newEd25519(b) }, AuthKindNull, DHNone, DHNone},
		{"ed25519-mlkem768", func() crypto.Signer { return hostEd25519(b) }, AuthKindPubkey, DHMLKEM768, DHNone},
		{"ed25519-x25519+mlkem768", func() crypto.Signer { return hostEd25519(b) }, AuthKindPubkey, DHCurve25519, DHMLKEM768},
		{"cert-rsa2048", func() crypto.Signer { return rsaKey }, AuthKindCert, DHNone, DHNone},
		{"cert-ecdsa-p256", func() crypto.Signer { return p256Key }, AuthKindCert, DHNone, DHNone},
	} {
		b.Run(c.name, func(b *testing.B) {
			var certAuth func(*EngineConfig)
			if c.auth == AuthKindCert {
				certAuth = benchCertAuth(b, inter, root.Cert)
			}
			n, ini, resp := newPair(b, c.signer(), c.signer(), func(cfg *EngineConfig) {
				cfg.Logger = nil
				if certAuth != nil {
					certAuth(cfg)
				}
				cfg.HalfOpenCookieThreshold = 1 << 20
				if c.ke != DHNone {
					cfg.IKE = DefaultIKEPolicy()
					cfg.IKE.DH = []DHGroup{c.ke}
				}
				if c.addke != DHNone {
					cfg.IKE.AddKE[0] = []DHGroup{c.addke}
				}
			})
			var respTime time.Duration
			var respBytes, respAllocs uint64
			var ms runtime.MemStats
			measureAlloc := false
			// The responder's calls carry the label side=responder, so that
			// a CPU profile of this benchmark can be narrowed to them with
			// pprof's -tagfocus side=responder.
			plain := context.Background()
			labelled := pprof.WithLabels(plain, pprof.Labels("side", "responder"))
			n.wrap = func(e *Engine, deliver func()) {
				if e != resp.e {
					deliver()
					return
				}
				pprof.SetGoroutineLabels(labelled)
				defer pprof.SetGoroutineLabels(plain)
				var before, beforeN uint64
				if measureAlloc {
					runtime.ReadMemStats(&ms)
					before, beforeN = ms.TotalAlloc, ms.Mallocs
				}
				start := threadCPU(b)
				deliver()
				respTime += threadCPU(b) - start
				if measureAlloc {
					runtime.ReadMemStats(&ms)
					respBytes += ms.TotalAlloc - before
					respAllocs += ms.Mallocs - beforeN
				}
			}
			// Keep every HandlePacket call on this thread, so the
			// thread's CPU clock measures the responder exactly.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// Allocation accounting stops the world; do it on one
				// handshake in 16 so it barely disturbs the timing.
				measureAlloc = i%16 == 0
				if _, err := n.initiate(ini, resp, InitiateOptions{Auth: c.auth}); err != nil {
					b.Fatal(err)
				}
				n.drain()
				killAll(ini)
				killAll(resp)
				n.log = n.log[:0]
				i++
			}
			b.ReportMetric(float64(respTime.Nanoseconds())/float64(i), "resp-ns/op")
			b.ReportMetric(float64(respBytes)/float64((i+15)/16), "resp-B/op")
			b.ReportMetric(float64(respAllocs)/float64((i+15)/16), "resp-allocs/op")
		})
	}
}

// nullInstaller keeps nothing, so that retained memory is the engine's.
type nullInstaller struct{ next uint32 }

func (f *nullInstaller) AllocSPI(_ context.Context, _, _ netip.Addr) (uint32, error) {
	f.next++
	return f.next, nil
}
func (f *nullInstaller) Install(context.Context, ChildSA) error { return nil }
func (f *nullInstaller) Delete(context.Context, ChildSA) error  { return nil }

// BenchmarkRetainedPerSA establishes 1000 IKE SAs, each with one CHILD
// SA, and reports the heap the responder engine retains per SA once they
// are idle (retained-B/SA), timers and table entries included.
func BenchmarkRetainedPerSA(b *testing.B) {
	const count = 1000
	for b.Loop() {
		n := newMemNet(b)
		mod := func(cfg *EngineConfig) {
			cfg.Installer = &nullInstaller{}
			cfg.Logger = nil
			cfg.HalfOpenCookieThreshold = 1 << 20
		}
		ini := n.addPeer(addrA, newEd25519(b), mod)
		resp := n.addPeer(addrB, newEd25519(b), mod)
		ini.trust(resp)
		resp.trust(ini)
		for i := 0; i < count; i++ {
			if _, err := n.initiate(ini, resp, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
				b.Fatal(err)
			}
			n.drain()
		}
		n.log = nil
		killAll(ini)
		// Steady state: past the half-open timeout, when the responder no
		// longer remembers the IKE_SA_INIT requests.
		n.advance(31 * time.Second)
		heap := func() uint64 {
			var ms runtime.MemStats
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		with := heap()
		if got := len(resp.e.SAs()); got != count {
			b.Fatalf("%d SAs", got)
		}
		killAll(resp)
		without := heap()
		b.ReportMetric(float64(int64(with)-int64(without))/count, "retained-B/SA")
		runtime.KeepAlive(resp)
		runtime.KeepAlive(n)
	}
}

// threadCPU returns the calling thread's CPU time.
func threadCPU(b *testing.B) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ts.Nano())
}
