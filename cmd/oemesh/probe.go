package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/udpmux"
)

// Exit codes of `oemesh probe`.
const (
	probeExitOK         = 0
	probeExitFailed     = 1 // our own failure: flags, keys, sockets, engine
	probeExitNotify     = 2 // the peer answered with an error notify
	probeExitTimeout    = 3 // the peer did not answer before the give-up time
	probeExitAuth       = 4 // the peer's AUTH did not verify
	probeExitNoProposal = 5 // the peer chose nothing we offered
	probeExitRekey      = 6 // established, but a --rekey exchange failed
)

type exchangeJSON struct {
	Exchange    string   `json:"exchange"`
	MessageID   uint32   `json:"message_id"`
	Millis      float64  `json:"ms"`
	Retransmits int      `json:"retransmits"`
	SentBytes   int      `json:"sent_bytes"`
	RecvBytes   int      `json:"recv_bytes"`
	Fragments   int      `json:"fragments_sent,omitempty"`
	Notifies    []string `json:"notifies,omitempty"`
	Error       string   `json:"error,omitempty"`
}

type peerAuthJSON struct {
	ID       string `json:"id,omitempty"`
	Method   string `json:"method,omitempty"`
	Scheme   string `json:"scheme,omitempty"`
	Verified bool   `json:"verified"`
	// Cert describes the certificate the peer authenticated with.
	Cert *peerCertJSON `json:"cert,omitempty"`
	// CertReq: the peer asked for our certificate; CertsSent: how many
	// CERT payloads we sent.
	CertReq   bool `json:"certreq,omitempty"`
	CertsSent int  `json:"certs_sent,omitempty"`
}

type peerCertJSON struct {
	Subject  string   `json:"subject"`
	Issuer   string   `json:"issuer"`
	NotAfter string   `json:"not_after"`
	DNSNames []string `json:"dns_names,omitempty"`
	IPs      []string `json:"ip_addresses,omitempty"`
	// Fingerprint is "SHA256:" and the unpadded base64 of the SHA-256 of
	// the certificate's DER, as `oemesh traffic --json` writes it.
	Fingerprint string `json:"fingerprint"`
}

type natJSON struct {
	LocalBehindNAT  bool `json:"local_behind_nat"`
	RemoteBehindNAT bool `json:"remote_behind_nat"`
	NATT            bool `json:"natt"`
}

type fragJSON struct {
	PeerSupports bool `json:"peer_supports"`
	Sent         int  `json:"sent"`
	Received     int  `json:"received"`
}

// rekeyJSON is one CREATE_CHILD_SA exchange of probe --rekey.
type rekeyJSON struct {
	What   string     `json:"what"` // "child" or "ike"
	PFS    string     `json:"pfs,omitempty"`
	Millis float64    `json:"ms"`
	Error  string     `json:"error,omitempty"`
	Child  *childJSON `json:"child,omitempty"` // the new CHILD SA
	IKE    *ikeSAJSON `json:"ike,omitempty"`   // the new IKE SA
}

type probeReport struct {
	Peer        string `json:"peer"`
	Local       string `json:"local"`
	Established bool   `json:"established"`
	// IKEEstablished: the IKE SA came up (the peer's AUTH verified) even
	// if the CHILD SA then failed.
	IKEEstablished bool           `json:"ike_established"`
	Exit           int            `json:"exit"`
	Error          string         `json:"error,omitempty"`
	Notify         string         `json:"notify,omitempty"`
	IKE            *suiteJSON     `json:"ike,omitempty"`
	PeerAuth       peerAuthJSON   `json:"peer_auth"`
	Child          *childJSON     `json:"child,omitempty"`
	ESP            *suiteJSON     `json:"esp,omitempty"`
	Notifies       []string       `json:"notifies"`
	VendorIDs      []string       `json:"vendor_ids"`
	Cookie         bool           `json:"cookie"`
	InvalidKE      []string       `json:"invalid_ke"`
	Fragments      fragJSON       `json:"fragments"`
	NAT            natJSON        `json:"nat"`
	Exchanges      []exchangeJSON `json:"exchanges"`
	Rekeys         []rekeyJSON    `json:"rekeys,omitempty"`
	Deleted        bool           `json:"deleted"`
	DeleteError    string         `json:"delete_error,omitempty"`

	// KeyExchanges are the key exchanges that keyed the IKE SA, written as
	// `oemesh traffic` writes them (IKE_SA_INIT's method, then each
	// additional key exchange that ran: "x25519+mlkem768");
	// QuantumResistant is true when one of them is ML-KEM.
	KeyExchanges     string `json:"key_exchanges,omitempty"`
	QuantumResistant bool   `json:"quantum_resistant"`
}

func newProbeCmd(g *globalFlags) *cobra.Command {
	f := ikeToolFlags{offersAddKE: true}
	var port, localPort, localNATTPort int
	var local string
	var rekey bool
	var hold time.Duration
	var requestAddress []string
	var noCertReq bool
	cmd := &cobra.Command{
		Use:   "probe PEER",
		Short: "Run a real IKEv2 handshake with a peer and report what it chose",
		Long: `Run IKE_SA_INIT and IKE_AUTH with a CHILD SA against PEER, as oemeshd would,
with a data plane that installs nothing, then delete the SA. Report the
peer's chosen transforms, notifies and vendor IDs, how it authenticated and
whether that verified, the CHILD SA, cookies, INVALID_KE, fragments, NAT-T
and the time of each exchange.

With --rekey, the probe then rekeys the CHILD SA (with PFS when --esp
names a key exchange method) and the IKE SA (CREATE_CHILD_SA) before it
deletes them, and reports each exchange.

With --request-address, IKE_AUTH asks the peer for an internal address
(CP(CFG_REQUEST), mode config) and proposes a TSi of every address of the
family; the report shows the address the peer assigned ("virtual IP",
virtual_ips in the CHILD SA's JSON) and the selectors it narrowed to.

With --peer-auth cert, IKE_AUTH carries a CERTREQ naming the --ca CAs;
--no-certreq leaves it out, as Libreswan's certificate OE client does, to
see what a certificate OE server answers such a client.

Exit status: 0 established; 2 the peer answered with an error notify
(named in the output); 3 no answer before --timeout; 4 the peer's AUTH did
not verify; 5 the peer chose nothing we offered; 6 established, but a
--rekey exchange failed; 1 anything else.

Proposals use strongSwan's syntax: --ike aes128gcm16-prfsha256-x25519
--esp aes128gcm16-esn (comma-separated lists allowed). --ike may name
RFC 9370 additional key exchanges as strongSwan does (ke1_mlkem768,
ke1_none, keN_<group> for N up to 7), offered one proposal per
comma-separated item as written, with INTERMEDIATE_EXCHANGE_SUPPORTED.
A peer that picks ML-KEM-768 or ML-KEM-1024 gets a hybrid IKE SA (the
method runs in an IKE_INTERMEDIATE exchange); one that picks NONE
(ke1_none) a classical one. With --rekey, the IKE SA rekey offers them
too, and --esp may name them for the CHILD SA rekey's PFS
(aes256gcm16-x25519-ke1_mlkem768); each chosen method runs in an
IKE_FOLLOWUP_KE exchange after CREATE_CHILD_SA.

Without --ike the probe offers oemeshd's default IKE proposals for --pq
(as oemeshd's ike.pq): prefer (the default) offers X25519 + ML-KEM-768
and then the same proposals without it, require only the hybrid, off only
the classical ones.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.setup(cmd.ErrOrStderr())
			if err != nil {
				return withExit(probeExitFailed, err)
			}
			peer, err := resolvePeer(cmd.Context(), args[0])
			if err != nil {
				return withExit(probeExitFailed, err)
			}
			addrReq, err := parseAddressRequest(requestAddress)
			if err != nil {
				return withExit(probeExitFailed, err)
			}
			remote := netip.AddrPortFrom(peer, uint16(port))
			var localAddr netip.Addr
			if local != "" {
				if localAddr, err = netip.ParseAddr(local); err != nil {
					return withExit(probeExitFailed, fmt.Errorf("--local %q: %w", local, err))
				}
			} else if localAddr, err = routeSource(remote); err != nil {
				return withExit(probeExitFailed, err)
			}
			// An interrupt stops the handshake; the engine still deletes what
			// it set up before the tool exits.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, code := runProbe(ctx, s, &f, probeOptions{remote: remote, local: localAddr, localPort: localPort, nattPort: localNATTPort, rekey: rekey, hold: hold, requestAddress: addrReq, noCertReq: noCertReq})
			out := cmd.OutOrStdout()
			if g.json {
				if err := printJSON(out, rep); err != nil {
					return err
				}
			} else {
				printProbe(out, rep)
			}
			if code != probeExitOK {
				return withExit(code, errors.New(rep.Error))
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&port, "port", ike.IKEPort, "the peer's IKE port")
	cmd.Flags().StringVar(&local, "local", "", "our address (default: the route's source address toward PEER)")
	cmd.Flags().IntVar(&localPort, "local-port", 0, "our IKE port (0: any free port, so a running daemon is no obstacle)")
	cmd.Flags().IntVar(&localNATTPort, "local-natt-port", 0, "our NAT-T port (0: any free port)")
	requestAddressFlag(cmd, &requestAddress)
	cmd.Flags().BoolVar(&noCertReq, "no-certreq", false, "send no CERTREQ in IKE_AUTH, although --peer-auth cert accepts the peer's certificate (as Libreswan's certificate OE client)")
	cmd.Flags().BoolVar(&rekey, "rekey", false, "after the handshake, rekey the CHILD SA and the IKE SA once each")
	cmd.Flags().DurationVar(&hold, "hold", 0, "keep the SAs up this long before deleting them, to look at the peer's view of them (an interrupt ends the wait)")
	return cmd
}

func resolvePeer(ctx context.Context, s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", s)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("peer %q: not an address, and no address found: %v", s, err)
	}
	return addrs[0].Unmap(), nil
}

// probeOptions are probe's own flags.
type probeOptions struct {
	remote              netip.AddrPort
	local               netip.Addr
	localPort, nattPort int
	rekey               bool
	hold                time.Duration      // --hold
	requestAddress      ike.AddressRequest // --request-address
	noCertReq           bool               // --no-certreq
}

// runProbe does the handshake and fills in the report; it returns the exit
// code.
func runProbe(ctx context.Context, s *ikeSetup, f *ikeToolFlags, o probeOptions) (*probeReport, int) {
	remote, local := o.remote, o.local
	rep := &probeReport{Peer: remote.String(), Notifies: []string{}, VendorIDs: []string{}, InvalidKE: []string{}, Exchanges: []exchangeJSON{}}
	fail := func(code int, err error) (*probeReport, int) {
		rep.Exit, rep.Error = code, err.Error()
		return rep, code
	}
	tr, err := udpmux.Listen(ctx, udpmux.Config{
		Addrs: []netip.Addr{local}, Port: o.localPort, NATTPort: o.nattPort,
		Mark: f.mark, Bypass: udpmux.BypassIfPermitted, Logger: s.log,
	})
	if err != nil {
		return fail(probeExitFailed, err)
	}
	defer tr.Close()
	ikeAddrs, nattAddrs := tr.LocalAddrs()
	rep.Local = ikeAddrs[0].String()
	dp := newNullDataplane()
	eng, err := ike.NewEngine(ike.EngineConfig{
		Credentials: s.creds, Keys: s.keys, CertVerifier: s.certVerifier, CertAuthorities: s.certAuthorities, Installer: dp, Sender: tr, Logger: s.log,
		IKE: s.ikePolicy, ESP: s.espPolicy,
		IKEPort: ikeAddrs[0].Port(), NATTPort: nattAddrs[0].Port(),
		GiveUp: f.timeout, FragmentThreshold: f.fragThreshold, ForceUDPEncap: f.udpEncap,
	})
	if err != nil {
		return fail(probeExitFailed, err)
	}
	serveCtx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- tr.Serve(serveCtx, eng.HandlePacket) }()
	defer func() {
		eng.Close()
		stop()
		<-served
	}()

	trace := &ike.Trace{}
	ictx, cancel := context.WithTimeout(ctx, 2*f.timeout)
	defer cancel()
	child, err := eng.Initiate(ictx, ike.InitiateOptions{
		Remote: remote, Local: local, Auth: s.auth, PeerID: s.peerID, PeerAuth: s.peerAuth, Mode: ike.ModeTunnel,
		IKE: s.ikePolicy, IKEOffer: s.ikeOffer, ESP: s.espPolicy, InitialContact: true, Trace: trace,
		RequestAddress: o.requestAddress, NoCertRequest: o.noCertReq,
	})
	fillTrace(rep, trace)
	if err != nil {
		code := probeExitFailed
		var ne *ike.NotifyError
		var npc *ike.NoProposalChosenError
		switch {
		case errors.As(err, &ne):
			code = probeExitNotify
			rep.Notify = ne.Type.String()
		case errors.Is(err, ike.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
			code = probeExitTimeout
		case errors.Is(err, ike.ErrAuthentication):
			code = probeExitAuth
		case errors.As(err, &npc):
			code = probeExitNoProposal
		}
		return fail(code, err)
	}
	rep.Established, rep.IKEEstablished = true, true
	cj := childInfoJSON(child)
	rep.Child = &cj
	code, ikeID := probeExitOK, child.IKE
	if o.rekey {
		var ok bool
		ikeID, ok = probeRekeys(ctx, eng, s, f, rep, child)
		if !ok {
			code = probeExitRekey
			rep.Exit, rep.Error = code, "rekey failed: "+rep.Rekeys[len(rep.Rekeys)-1].Error
		}
	}
	if o.hold > 0 {
		// The SAs stay up for the peer to be inspected; an interrupt ends
		// the wait, and the SAs are still deleted.
		t := time.NewTimer(o.hold)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		ctx = context.WithoutCancel(ctx)
	}
	dctx, dcancel := context.WithTimeout(ctx, f.timeout)
	defer dcancel()
	if err := eng.DeleteIKE(dctx, ikeID); err != nil {
		rep.DeleteError = err.Error()
	} else {
		rep.Deleted = true
	}
	return rep, code
}

// probeRekeys rekeys the CHILD SA, then the IKE SA, recording both in rep.
// It returns the IKE SA to delete (the new one when its rekey succeeded)
// and whether both succeeded.
func probeRekeys(ctx context.Context, eng *ike.Engine, s *ikeSetup, f *ikeToolFlags, rep *probeReport, child ike.ChildSAInfo) (ike.SAID, bool) {
	find := func(pred func(ike.SAInfo) bool) (ike.SAInfo, bool) {
		for _, sa := range eng.SAs() {
			if pred(sa) {
				return sa, true
			}
		}
		return ike.SAInfo{}, false
	}
	pfs := ike.DHNone
	if len(s.espPolicy.DH) > 0 {
		pfs = s.espPolicy.DH[0]
	}
	rk := rekeyJSON{What: "child"}
	if pfs != ike.DHNone {
		rk.PFS = pfs.String()
	}
	rctx, cancel := context.WithTimeout(ctx, 2*f.timeout)
	start := time.Now()
	err := eng.RekeyChild(rctx, child.SPIIn, pfs)
	cancel()
	rk.Millis = float64(time.Since(start).Microseconds()) / 1000
	if err == nil {
		if sa, ok := find(func(sa ike.SAInfo) bool { return sa.ID == child.IKE }); ok {
			for _, c := range sa.Children {
				if c.SPIIn != child.SPIIn {
					cj := childInfoJSON(c)
					rk.Child = &cj
				}
			}
		}
		if rk.Child == nil {
			err = fmt.Errorf("no new CHILD SA after the rekey of %08x", child.SPIIn)
		}
	}
	if err != nil {
		rk.Error = err.Error()
	}
	rep.Rekeys = append(rep.Rekeys, rk)
	if err != nil {
		return child.IKE, false
	}

	rk = rekeyJSON{What: "ike"}
	rctx, cancel = context.WithTimeout(ctx, 2*f.timeout)
	start = time.Now()
	err = eng.RekeyIKE(rctx, child.IKE)
	cancel()
	rk.Millis = float64(time.Since(start).Microseconds()) / 1000
	id := child.IKE
	if err == nil {
		sa, ok := find(func(sa ike.SAInfo) bool {
			return sa.ID != child.IKE && sa.Remote.Addr() == rep.peerAddr() && sa.State == "ESTABLISHED"
		})
		if ok {
			j := ikeInfoJSON(sa)
			rk.IKE, id = &j, sa.ID
		} else {
			err = errors.New("no new IKE SA after the rekey")
		}
	}
	if err != nil {
		rk.Error = err.Error()
	}
	rep.Rekeys = append(rep.Rekeys, rk)
	return id, err == nil
}

// peerAddr is the peer's address as the report names it.
func (r *probeReport) peerAddr() netip.Addr {
	ap, _ := netip.ParseAddrPort(r.Peer)
	return ap.Addr()
}

func fillTrace(rep *probeReport, t *ike.Trace) {
	if t.IKESuite.Encr.ID != 0 {
		sj := ikeSuiteJSON(t.IKESuite)
		rep.IKE = &sj
	}
	kes := t.KeyExchanges()
	rep.KeyExchanges, rep.QuantumResistant = kes.String(), kes.QuantumResistant()
	if t.ESP != nil {
		esn := t.ESP.ESN == ike.ESNOn
		sj := suiteJSON{Encr: t.ESP.Encr.String(), ESN: &esn}
		if t.ESP.Integ != ike.IntegNone {
			sj.Integ = t.ESP.Integ.String()
		}
		if t.ESP.DH != ike.DHNone {
			sj.DH = t.ESP.DH.String()
		}
		rep.ESP = &sj
	}
	rep.PeerAuth = peerAuthJSON{Verified: t.PeerAuthVerified, Scheme: t.PeerAuthScheme, CertReq: t.PeerCertReq, CertsSent: t.CertsSent}
	if c := t.PeerCert; c != nil {
		sum := sha256.Sum256(c.Raw)
		pc := &peerCertJSON{Subject: c.Subject, Issuer: c.Issuer, NotAfter: c.NotAfter.UTC().Format(time.RFC3339), DNSNames: c.DNSNames,
			Fingerprint: "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])}
		for _, a := range c.IPAddresses {
			pc.IPs = append(pc.IPs, a.String())
		}
		rep.PeerAuth.Cert = pc
	}
	if t.PeerID.Type != 0 {
		rep.PeerAuth.ID = t.PeerID.String()
	}
	if t.PeerAuthMethod != 0 {
		rep.PeerAuth.Method = t.PeerAuthMethod.String()
	}
	rep.IKEEstablished = t.PeerAuthVerified
	for _, n := range t.Notifies {
		rep.Notifies = append(rep.Notifies, n.String())
	}
	for _, v := range t.VendorIDs {
		rep.VendorIDs = append(rep.VendorIDs, vendorIDString(v))
	}
	rep.Cookie = t.Cookie
	for _, g := range t.InvalidKE {
		rep.InvalidKE = append(rep.InvalidKE, g.String())
	}
	rep.Fragments = fragJSON{PeerSupports: t.PeerSupportsFragments, Sent: t.FragmentsSent, Received: t.FragmentsReceived}
	rep.NAT = natJSON{LocalBehindNAT: t.LocalBehindNAT, RemoteBehindNAT: t.RemoteBehindNAT, NATT: t.NATT}
	for _, x := range t.Exchanges {
		ej := exchangeJSON{
			Exchange: x.Exchange.String(), MessageID: x.MessageID,
			Millis:      float64(x.Duration.Microseconds()) / 1000,
			Retransmits: x.Retransmits, SentBytes: x.SentBytes, RecvBytes: x.RecvBytes,
			Fragments: x.Fragments, Error: x.Error,
		}
		for _, n := range x.Notifies {
			ej.Notifies = append(ej.Notifies, n.String())
		}
		rep.Exchanges = append(rep.Exchanges, ej)
	}
}

func printProbe(w io.Writer, r *probeReport) {
	state := "ESTABLISHED"
	switch {
	case !r.Established && r.IKEEstablished:
		state = "IKE SA established, CHILD SA failed"
	case !r.Established:
		state = "FAILED"
	}
	fmt.Fprintf(w, "probe %s from %s: %s\n", r.Peer, r.Local, state)
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
	if r.IKE != nil {
		fmt.Fprintf(w, "  IKE: %s", r.IKE.Encr)
		if r.IKE.Integ != "" {
			fmt.Fprintf(w, " %s", r.IKE.Integ)
		}
		fmt.Fprintf(w, " %s %s\n", r.IKE.PRF, r.IKE.DH)
	}
	if r.KeyExchanges != "" {
		fmt.Fprintf(w, "  key exchanges: %s (%s)\n", r.KeyExchanges, quantumText(r.QuantumResistant))
	}
	if r.PeerAuth.Method != "" {
		verdict := "NOT verified"
		if r.PeerAuth.Verified {
			verdict = "verified"
		}
		scheme := ""
		if r.PeerAuth.Scheme != "" && r.PeerAuth.Scheme != r.PeerAuth.Method {
			scheme = " " + r.PeerAuth.Scheme
		}
		fmt.Fprintf(w, "  peer %s authenticated with %s%s: %s\n", r.PeerAuth.ID, r.PeerAuth.Method, scheme, verdict)
	}
	if c := r.PeerAuth.Cert; c != nil {
		fmt.Fprintf(w, "  peer certificate: %q issued by %q, expires %s", c.Subject, c.Issuer, c.NotAfter)
		if names := append(append([]string(nil), c.DNSNames...), c.IPs...); len(names) > 0 {
			fmt.Fprintf(w, ", names %s", strings.Join(names, " "))
		}
		fmt.Fprintln(w)
	}
	if c := r.Child; c != nil {
		fmt.Fprintf(w, "  CHILD SA: %s, SPI in %s out %s, %s %s esn=%v encap=%v\n    %s === %s\n",
			c.Mode, c.SPIIn, c.SPIOut, c.Encr, c.Integ, c.ESN, c.Encap, strings.Join(c.TSLocal, ","), strings.Join(c.TSRemote, ","))
		if len(c.VirtualIPs) > 0 {
			fmt.Fprintf(w, "  virtual IP: %s\n", strings.Join(c.VirtualIPs, ","))
		}
	}
	fmt.Fprintf(w, "  notifies: %s\n", strings.Join(r.Notifies, " "))
	if len(r.VendorIDs) > 0 {
		fmt.Fprintf(w, "  vendor IDs: %q\n", r.VendorIDs)
	}
	fmt.Fprintf(w, "  cookie: %v, INVALID_KE: %v, fragments: peer supports %v, sent %d, received %d, NAT-T: %v (we behind NAT %v, peer %v)\n",
		r.Cookie, r.InvalidKE, r.Fragments.PeerSupports, r.Fragments.Sent, r.Fragments.Received, r.NAT.NATT, r.NAT.LocalBehindNAT, r.NAT.RemoteBehindNAT)
	for _, x := range r.Exchanges {
		fmt.Fprintf(w, "  %-15s mid %d  %7.2f ms  %d retransmits  sent %d recv %d", x.Exchange, x.MessageID, x.Millis, x.Retransmits, x.SentBytes, x.RecvBytes)
		if len(x.Notifies) > 0 {
			fmt.Fprintf(w, "  %s", strings.Join(x.Notifies, " "))
		}
		if x.Error != "" {
			fmt.Fprintf(w, "  error: %s", x.Error)
		}
		fmt.Fprintln(w)
	}
	for _, rk := range r.Rekeys {
		fmt.Fprintf(w, "  rekey %-5s %7.2f ms", rk.What, rk.Millis)
		if rk.PFS != "" {
			fmt.Fprintf(w, "  PFS %s", rk.PFS)
		}
		if rk.Child != nil {
			fmt.Fprintf(w, "  new CHILD SA SPI in %s out %s", rk.Child.SPIIn, rk.Child.SPIOut)
		}
		if rk.IKE != nil {
			fmt.Fprintf(w, "  new IKE SA %s_i %s_r", rk.IKE.SPIi, rk.IKE.SPIr)
			if rk.IKE.KeyExchanges != "" {
				fmt.Fprintf(w, " keyed by %s", rk.IKE.KeyExchanges)
			}
		}
		if rk.Error != "" {
			fmt.Fprintf(w, "  error: %s", rk.Error)
		}
		fmt.Fprintln(w)
	}
	if r.Established {
		if r.Deleted {
			fmt.Fprintln(w, "  deleted the IKE SA")
		} else {
			fmt.Fprintf(w, "  delete failed: %s\n", r.DeleteError)
		}
	}
}
