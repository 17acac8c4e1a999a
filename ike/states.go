package ike

import (
	"context"
	"errors"
	"net/netip"
)

var errTODO = errors.New("ike: engine: not implemented yet")

func (e *Engine) handlePacket(pkt []byte, local, remote netip.AddrPort) {}
func (e *Engine) initiate(ctx context.Context, opts InitiateOptions) (ChildSAInfo, error) {
	return ChildSAInfo{}, errTODO
}
func (e *Engine) deleteIKE(ctx context.Context, id SAID) error                    { return errTODO }
func (e *Engine) deleteChild(ctx context.Context, spiIn uint32) error             { return errTODO }
func (e *Engine) rekeyChild(ctx context.Context, spiIn uint32, pfs DHGroup) error { return errTODO }
func (e *Engine) rekeyIKE(ctx context.Context, id SAID) error                     { return errTODO }
func (e *Engine) listSAs() []SAInfo                                               { return nil }
func (e *Engine) close() error                                                    { return nil }
