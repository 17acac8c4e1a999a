package stub

import (
	"context"
	"errors"
	"fmt"

	"github.com/miekg/dns"
)

// forward asks each upstream in turn, over network ("udp" or "tcp": the
// one the application used), and returns the first answer, whatever its
// rcode: an upstream's SERVFAIL is an answer like any other. The query
// goes as the application sent it (ID, flags, EDNS0 and its DO bit); the
// UDP receive buffer is the one the application's EDNS0 offers, 512
// bytes without EDNS0, so a larger answer comes back truncated (TC) and
// the application retries over TCP, as it would with the upstream itself.
func (s *Stub) forward(ctx context.Context, req *dns.Msg, network string) (*dns.Msg, error) {
	c := dns.Client{Net: network, Timeout: s.cfg.Timeout}
	var errs []error
	for _, up := range s.cfg.Upstreams {
		resp, _, err := c.ExchangeContext(ctx, req, up)
		if err == nil && resp != nil {
			return resp, nil
		}
		errs = append(errs, fmt.Errorf("%s over %s: %w", up, network, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// servFail is the answer to req when no upstream answered.
func servFail(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, dns.RcodeServerFailure)
	m.RecursionAvailable = true
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(dns.DefaultMsgSize, opt.Do())
	}
	return m
}
