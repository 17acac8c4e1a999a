package e2e

import (
	"encoding/json"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

var seqRE = regexp.MustCompile(`bytes from .* icmp_seq=(\d+) .*time=([0-9.]+) ms`)

// answeredSeqs maps the echo sequence numbers ping saw answered to their
// round-trip times.
func answeredSeqs(out string) map[int]time.Duration {
	seqs := map[int]time.Duration{}
	for _, m := range seqRE.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		ms, _ := strconv.ParseFloat(m[2], 64)
		seqs[n] = time.Duration(ms * float64(time.Millisecond))
	}
	return seqs
}

// TestMeshDeadResolverOneSide: a's resolver is dead (or broken), b's works,
// and each has the other in private-or-clear. a cannot verify any key, so
// its failure policy applies after the DNS bound: the flow goes in the
// clear, and every echo sent after that bound is answered. What broke it:
// a's IKE_AUTH had gone out beside DNS, b (which can verify a) installed
// its half of the CHILD SA, and a dropped the IKE SA without a word when
// DNS failed: b's answers went into an SA a never had. With the resolver
// killed, whether a's cancel or its own failed key look-up ends the IKE SA
// first is a race (only the second sends a Delete); with SERVFAIL after
// 100 ms and b's resolver 500 ms away, a's DNS fails while b is still
// verifying a, every time. b's answers then need b's own attempt toward a
// to fail, which needs a's look-up of b's key: a remembers its failure
// (RFC 9520) and refuses at once, so the echoes after the bound are
// answered promptly, not a second bound later.
func TestMeshDeadResolverOneSide(t *testing.T) {
	for _, tc := range []struct {
		name           string
		faultA, faultB lab.DNSFault
		count          int
		// Echoes sent after `after` (the DNS bound with a margin for a
		// loaded box) must be answered, those sent after `prompt` within
		// a second.
		after, prompt time.Duration
	}{
		{name: "killed", faultA: lab.DNSFault{Drop: true}, count: 40, after: 3 * time.Second, prompt: 2500 * time.Millisecond},
		{name: "servfail", faultA: lab.DNSFault{Rcode: dns.RcodeServerFailure, Delay: 100 * time.Millisecond},
			faultB: lab.DNSFault{Delay: 500 * time.Millisecond}, count: 20, after: 1500 * time.Millisecond, prompt: 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMesh(t, lab.MeshOptions{})
			ctx := ctxT(t, 60*time.Second)
			a, b := m.Hosts["a"], m.Hosts["b"]
			m.DNS.SetFault(a.Addr4, tc.faultA)
			if tc.faultB != (lab.DNSFault{}) {
				m.DNS.SetFault(b.Addr4, tc.faultB)
			}
			start(t, m, ctx, "b", initiator)
			start(t, m, ctx, "a", initiator)
			c := capture(t, m)
			const interval = 150 * time.Millisecond
			r := m.Ping(ctx, "a", b.Addr4, tc.count, interval)
			time.Sleep(200 * time.Millisecond)
			counts := c.Settled()
			firstAfter, firstPrompt := int(tc.after/interval)+1, int(tc.prompt/interval)+1
			seqs := answeredSeqs(r.Output)
			var missing, slow []int
			for s := min(firstAfter, firstPrompt); s <= tc.count; s++ {
				switch rtt, ok := seqs[s]; {
				case !ok && s >= firstAfter:
					missing = append(missing, s)
				case ok && s >= firstPrompt && rtt > time.Second:
					slow = append(slow, s)
				}
			}
			if len(missing) > 0 {
				t.Errorf("echoes sent after the DNS bound not answered: %v (%d/%d answered)\n%s", missing, r.Received, r.Sent, r.Output)
			}
			// b's answers need b's own attempt toward a to fail, which
			// needs a's look-up of b's key: a remembers that it failed
			// (RFC 9520) instead of waiting the whole bound again.
			if len(slow) > 0 {
				t.Errorf("echoes sent after the DNS bound answered after more than 1 s: %v\n%s", slow, r.Output)
			}
			if n := counts.From(b.Addr4, a.Addr4, lab.KindICMP); n < tc.count-firstAfter {
				t.Errorf("%d cleartext answers b→a, want ≥ %d", n, tc.count-firstAfter)
			}
			out, _ := m.CLI(ctx, "b", "traffic", "--json")
			var sas []control.TunnelStatus
			json.Unmarshal([]byte(out), &sas)
			if len(sas) != 0 {
				t.Errorf("b keeps SAs with a, which a does not have:\n%s", out)
			}
			// ESP here is b answering into the SA a abandoned; the Delete
			// grace keeps it at 0 on a box that is not overloaded.
			t.Logf("%d/%d echoes answered; ESP b→a: %d", r.Received, r.Sent, counts.From(b.Addr4, a.Addr4, lab.KindESP))
		})
	}
}
