package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/logtest"
	"github.com/oemesh/oemesh/internal/netnstest"
)

// The oemesh binary under test is built once, by the first test that needs
// it, into binDir; TestMain removes it.
var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// oemesh returns the path of the built oemesh command.
func oemesh(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "oemesh-interop-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "oemesh"), "github.com/oemesh/oemesh/cmd/oemesh").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build cmd/oemesh: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "oemesh")
}

// Keys ----------------------------------------------------------------------

func mustEd25519(t testing.TB) crypto.Signer {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRSA(t testing.TB, bits int) crypto.Signer {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeKey writes k as PKCS#8 PEM (mode 0600, as oemesh requires) and its
// public half as SubjectPublicKeyInfo PEM; it returns both paths.
func writeKey(t testing.TB, dir, name string, k crypto.Signer) (priv, pub string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	priv = filepath.Join(dir, name+".key")
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return priv, writePub(t, dir, name, k.Public())
}

func writePub(t testing.TB, dir, name string, k crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".pub")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// oemesh probe ---------------------------------------------------------------

type suite struct {
	Encr  string `json:"encr"`
	Integ string `json:"integ"`
	PRF   string `json:"prf"`
	DH    string `json:"dh"`
	ESN   *bool  `json:"esn"`
}

type probeReport struct {
	Peer           string `json:"peer"`
	Local          string `json:"local"`
	Established    bool   `json:"established"`
	IKEEstablished bool   `json:"ike_established"`
	Exit           int    `json:"exit"`
	Error          string `json:"error"`
	Notify         string `json:"notify"`
	IKE            *suite `json:"ike"`
	PeerAuth       struct {
		ID       string `json:"id"`
		Method   string `json:"method"`
		Scheme   string `json:"scheme"`
		Verified bool   `json:"verified"`
		Cert     *struct {
			Subject string   `json:"subject"`
			Issuer  string   `json:"issuer"`
			IPs     []string `json:"ip_addresses"`
		} `json:"cert"`
		CertReq   bool `json:"certreq"`
		CertsSent int  `json:"certs_sent"`
	} `json:"peer_auth"`
	Child *struct {
		SPIIn    string   `json:"spi_in"`
		SPIOut   string   `json:"spi_out"`
		Mode     string   `json:"mode"`
		TSLocal  []string `json:"ts_local"`
		TSRemote []string `json:"ts_remote"`
		Encr     string   `json:"encr"`
		Integ    string   `json:"integ"`
		ESN      bool     `json:"esn"`
		Encap    bool     `json:"encap"`
		// VirtualIPs: the address the peer assigned (--request-address).
		VirtualIPs []string `json:"virtual_ips"`
	} `json:"child"`
	ESP       *suite   `json:"esp"`
	Notifies  []string `json:"notifies"`
	VendorIDs []string `json:"vendor_ids"`
	Cookie    bool     `json:"cookie"`
	InvalidKE []string `json:"invalid_ke"`
	Fragments struct {
		PeerSupports bool `json:"peer_supports"`
		Sent         int  `json:"sent"`
		Received     int  `json:"received"`
	} `json:"fragments"`
	NAT struct {
		LocalBehindNAT  bool `json:"local_behind_nat"`
		RemoteBehindNAT bool `json:"remote_behind_nat"`
		NATT            bool `json:"natt"`
	} `json:"nat"`
	Exchanges []struct {
		Exchange    string   `json:"exchange"`
		Millis      float64  `json:"ms"`
		Retransmits int      `json:"retransmits"`
		Fragments   int      `json:"fragments_sent"`
		Notifies    []string `json:"notifies"`
		Error       string   `json:"error"`
	} `json:"exchanges"`
	Rekeys []struct {
		What   string  `json:"what"`
		PFS    string  `json:"pfs"`
		Millis float64 `json:"ms"`
		Error  string  `json:"error"`
		Child  *struct {
			SPIIn  string `json:"spi_in"`
			SPIOut string `json:"spi_out"`
			PFS    string `json:"pfs"`
		} `json:"child"`
		IKE *struct {
			SPIi string `json:"spi_i"`
			SPIr string `json:"spi_r"`
		} `json:"ike"`
	} `json:"rekeys"`
	Deleted     bool   `json:"deleted"`
	DeleteError string `json:"delete_error"`

	// KeyExchanges: "x25519+mlkem768" for the hybrid.
	KeyExchanges     string `json:"key_exchanges"`
	QuantumResistant bool   `json:"quantum_resistant"`
}

type probeResult struct {
	Report         probeReport
	Exit           int
	Stdout, Stderr string
}

func (r probeResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr (last 40 lines):\n%s", r.Exit, r.Stdout, lastLines(r.Stderr, 40))
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// runProbe runs `oemesh probe --json --debug args...` in ns and decodes
// its report. It fails the test only when there is no report at all.
func runProbe(t *testing.T, ctx context.Context, ns *netnstest.NS, args ...string) probeResult {
	t.Helper()
	cmd := ns.Command(ctx, oemesh(t), append([]string{"probe", "--json", "--debug"}, args...)...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := probeResult{Stdout: so.String(), Stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Exit = ee.ExitCode()
	case err != nil:
		t.Fatalf("oemesh probe %v: %v\n%s", args, err, r)
	}
	if err := json.Unmarshal(so.Bytes(), &r.Report); err != nil {
		t.Fatalf("oemesh probe %v: no JSON report: %v\n%s", args, err, r)
	}
	if r.Report.Exit != r.Exit {
		t.Errorf("report says exit %d, process exited %d", r.Report.Exit, r.Exit)
	}
	return r
}

// oemesh respond ------------------------------------------------------------

type respondEvent struct {
	Event string `json:"event"`
	IKE   *struct {
		SPIi      string `json:"spi_i"`
		SPIr      string `json:"spi_r"`
		Initiator bool   `json:"initiator"`
		Local     string `json:"local"`
		Remote    string `json:"remote"`
		PeerID    string `json:"peer_id"`
		PeerAuth  string `json:"peer_auth"`
		Suite     suite  `json:"suite"`
		NATT      bool   `json:"natt"`
	} `json:"ike"`
	Child *struct {
		SPIIn    string   `json:"spi_in"`
		SPIOut   string   `json:"spi_out"`
		Mode     string   `json:"mode"`
		TSLocal  []string `json:"ts_local"`
		TSRemote []string `json:"ts_remote"`
		Encr     string   `json:"encr"`
		Integ    string   `json:"integ"`
		ESN      bool     `json:"esn"`
		Encap    bool     `json:"encap"`
		// VirtualIPs: the address leased to the peer (--address-pool).
		VirtualIPs []string `json:"virtual_ips"`
	} `json:"child"`
	// Pool is the state of --address-pool after the event.
	Pool *struct {
		Online   int      `json:"online"`
		Leases   []string `json:"leases"`
		Acquired uint64   `json:"acquired"`
		Released uint64   `json:"released"`
	} `json:"pool"`
	Error string `json:"error"`
	Line  string `json:"-"`
}

// responder is a running `oemesh respond`.
type responder struct {
	cmd    *exec.Cmd
	stderr *logtest.Buffer
	mu     sync.Mutex
	events []respondEvent
	more   chan struct{} // closed and replaced on each new event
	done   chan struct{} // closed when stdout ends
}

// startRespond starts `oemesh respond --json --debug args...` in ns and
// waits until its sockets are bound. It is stopped (SIGTERM, then SIGKILL
// after 5 s) in t.Cleanup, which also logs its stderr when the test failed.
func startRespond(t *testing.T, ns *netnstest.NS, args ...string) *responder {
	t.Helper()
	cmd := ns.Command(context.Background(), oemesh(t), append([]string{"respond", "--json", "--debug"}, args...)...)
	r := &responder{cmd: cmd, stderr: &logtest.Buffer{}, more: make(chan struct{}), done: make(chan struct{})}
	cmd.Stderr = r.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start oemesh respond: %v", err)
	}
	go r.read(stdout)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		exited := make(chan struct{})
		go func() {
			<-r.done
			_ = cmd.Wait()
			close(exited)
		}()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("oemesh respond in %s did not stop within 5 s of SIGTERM", ns.Name)
		}
		if t.Failed() {
			t.Logf("oemesh respond in %s, stderr (last 60 lines):\n%s", ns.Name, lastLines(r.stderr.String(), 60))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(r.stderr.String(), "msg=responding") {
		select {
		case <-r.done:
			t.Fatalf("oemesh respond exited before answering:\n%s", r.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("oemesh respond did not bind its sockets within 10 s:\n%s", r.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

func (r *responder) read(stdout interface{ Read([]byte) (int, error) }) {
	defer close(r.done)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var ev respondEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			ev = respondEvent{Event: "unparsable", Error: err.Error()}
		}
		ev.Line = sc.Text()
		r.mu.Lock()
		r.events = append(r.events, ev)
		close(r.more)
		r.more = make(chan struct{})
		r.mu.Unlock()
	}
}

// mark returns the number of events seen so far, for waitEvent.
func (r *responder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// waitEvent waits for an event after mark that satisfies match.
func (r *responder) waitEvent(ctx context.Context, from int, what string, match func(respondEvent) bool) (respondEvent, error) {
	for {
		r.mu.Lock()
		for _, ev := range r.events[from:] {
			if match(ev) {
				r.mu.Unlock()
				return ev, nil
			}
		}
		from = len(r.events)
		more := r.more
		r.mu.Unlock()
		select {
		case <-more:
		case <-r.done:
			r.mu.Lock()
			n := len(r.events)
			r.mu.Unlock()
			if n == from {
				return respondEvent{}, fmt.Errorf("oemesh respond exited before %s", what)
			}
		case <-ctx.Done():
			return respondEvent{}, fmt.Errorf("no %s from oemesh respond: %w; events so far:\n%s", what, ctx.Err(), r.describe())
		}
	}
}

// waitLog waits until oemesh respond's stderr after offset from matches
// re, and returns that part: its stderr reaches the buffer through a
// pipe and exec's copying goroutine, so a line can trail what the peer
// already saw.
func (r *responder) waitLog(ctx context.Context, from int, re *regexp.Regexp) (string, bool) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s := r.stderr.String()[from:]; re.MatchString(s) {
			return s, true
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return r.stderr.String()[from:], false
		}
	}
}

func (r *responder) describe() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		return "(none)"
	}
	var b strings.Builder
	for _, ev := range r.events {
		b.WriteString(ev.Line)
		b.WriteByte('\n')
	}
	return b.String()
}

func eventIs(name string) func(respondEvent) bool {
	return func(ev respondEvent) bool { return ev.Event == name }
}

// sameSPI compares SPIs written in hex by different programs: pluto drops
// leading zeros ("esp.b7a29e3@..."), oemesh and strongSwan print 8 digits.
func sameSPI(a, b string) bool {
	x, errA := strconv.ParseUint(strings.TrimPrefix(a, "0x"), 16, 32)
	y, errB := strconv.ParseUint(strings.TrimPrefix(b, "0x"), 16, 32)
	return errA == nil && errB == nil && x == y
}
