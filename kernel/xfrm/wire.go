package xfrm

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Sizes of the kernel's XFRM structs on Linux (include/uapi/linux/xfrm.h);
// the same on every 64-bit and 32-bit ABI the kernel supports for xfrm_user.
const (
	sizeofAddress    = 16
	sizeofSelector   = 56
	sizeofID         = 24
	sizeofLftCfg     = 64
	sizeofLftCur     = 32
	sizeofStats      = 12
	sizeofUsersaInfo = 224
	sizeofUsersaID   = 24
	sizeofSpiInfo    = sizeofUsersaInfo + 8
	sizeofPolicyInfo = 168
	sizeofPolicyID   = 64
	sizeofTmpl       = 64
	sizeofAcquire    = 280
	sizeofExpire     = sizeofUsersaInfo + 8 // + hard u8, padded
	sizeofPolExpire  = sizeofPolicyInfo + 8
	sizeofReplayESN  = 24
	sizeofEncapTmpl  = 24
)

// Offsets inside the structs above.
const (
	offSelFamily  = 40
	offInfoID     = sizeofSelector                    // usersa_info.id
	offInfoSaddr  = offInfoID + sizeofID              // usersa_info.saddr
	offInfoLft    = offInfoSaddr + sizeofAddress      // usersa_info.lft
	offInfoCurlft = offInfoLft + sizeofLftCfg         // usersa_info.curlft
	offInfoSeq    = offInfoCurlft + sizeofLftCur + 12 // after stats
	offInfoReqid  = offInfoSeq + 4
	offInfoFamily = offInfoReqid + 4
	offInfoMode   = offInfoFamily + 2
	offInfoReplay = offInfoMode + 1
	offInfoFlags  = offInfoReplay + 1
	offPolLft     = sizeofSelector
	offPolPrio    = offPolLft + sizeofLftCfg + sizeofLftCur
	offPolIndex   = offPolPrio + 4
	offPolDir     = offPolIndex + 4
	offPolAction  = offPolDir + 1
)

const (
	xfrmInf = ^uint64(0)

	modeTransport = 0
	modeTunnel    = 1

	dirIn  = 0
	dirOut = 1
	dirFwd = 2

	actionAllow = 0
	actionBlock = 1

	stateFlagESN   = 128
	stateFlagAFUns = 32

	protoESP = unix.IPPROTO_ESP
)

var ne = binary.NativeEndian

// selector is an XFRM selector: the traffic a policy or SA applies to.
// Ports are in host order; 0 means any. For ICMP they are type and code.
type selector struct {
	Src, Dst         netip.Prefix
	Proto            uint8
	SrcPort, DstPort uint16
}

func (s selector) family() uint16 {
	if s.Dst.Addr().Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func (s selector) String() string {
	str := fmt.Sprintf("%s→%s", s.Src, s.Dst)
	if s.Proto != 0 {
		str += fmt.Sprintf(" proto %d", s.Proto)
	}
	if s.SrcPort != 0 || s.DstPort != 0 {
		str += fmt.Sprintf(" ports %d→%d", s.SrcPort, s.DstPort)
	}
	return str
}

func familyOf(a netip.Addr) uint16 {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// anyPrefix is 0.0.0.0/0 or ::/0, for the family of a.
func anyPrefix(a netip.Addr) netip.Prefix {
	if a.Is4() {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
}

// hostPrefix is a/32 or a/128.
func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

func putAddr(b []byte, a netip.Addr) {
	clear(b[:sizeofAddress])
	if a.IsValid() {
		copy(b, a.AsSlice())
	}
}

func parseAddr(b []byte, family uint16) (netip.Addr, error) {
	switch family {
	case unix.AF_INET:
		return netip.AddrFrom4([4]byte(b[:4])), nil
	case unix.AF_INET6:
		return netip.AddrFrom16([16]byte(b[:16])), nil
	}
	return netip.Addr{}, fmt.Errorf("address family %d is neither AF_INET nor AF_INET6", family)
}

func putSelector(b []byte, s selector) {
	putAddr(b[0:], s.Dst.Addr())
	putAddr(b[16:], s.Src.Addr())
	if s.DstPort != 0 {
		binary.BigEndian.PutUint16(b[32:], s.DstPort)
		binary.BigEndian.PutUint16(b[34:], 0xffff)
	}
	if s.SrcPort != 0 {
		binary.BigEndian.PutUint16(b[36:], s.SrcPort)
		binary.BigEndian.PutUint16(b[38:], 0xffff)
	}
	ne.PutUint16(b[offSelFamily:], s.family())
	b[42] = uint8(s.Dst.Bits())
	b[43] = uint8(s.Src.Bits())
	b[44] = s.Proto
}

func parseSelector(b []byte) (selector, error) {
	if len(b) < sizeofSelector {
		return selector{}, fmt.Errorf("selector: %d bytes, want %d", len(b), sizeofSelector)
	}
	fam := ne.Uint16(b[offSelFamily:])
	dst, err := parseAddr(b[0:], fam)
	if err != nil {
		return selector{}, fmt.Errorf("selector: %w", err)
	}
	src, _ := parseAddr(b[16:], fam)
	dbits, sbits := int(b[42]), int(b[43])
	if dbits > dst.BitLen() || sbits > src.BitLen() {
		return selector{}, fmt.Errorf("selector: prefix lengths /%d, /%d too long for family %d", dbits, sbits, fam)
	}
	s := selector{
		Dst:   netip.PrefixFrom(dst, dbits).Masked(),
		Src:   netip.PrefixFrom(src, sbits).Masked(),
		Proto: b[44],
	}
	if binary.BigEndian.Uint16(b[34:]) != 0 {
		s.DstPort = binary.BigEndian.Uint16(b[32:])
	}
	if binary.BigEndian.Uint16(b[38:]) != 0 {
		s.SrcPort = binary.BigEndian.Uint16(b[36:])
	}
	return s, nil
}

// flowSelector parses the selector of an ACQUIRE (the exact flow): ports are
// taken without their masks, which the kernel leaves as the policy's.
func flowSelector(b []byte) (selector, error) {
	s, err := parseSelector(b)
	if err != nil {
		return s, err
	}
	s.DstPort = binary.BigEndian.Uint16(b[32:])
	s.SrcPort = binary.BigEndian.Uint16(b[36:])
	return s, nil
}

// putLft writes an xfrm_lifetime_cfg; zero byte/packet limits mean none.
func putLft(b []byte, softBytes, hardBytes uint64, softAdd, hardAdd uint64) {
	inf := func(v uint64) uint64 {
		if v == 0 {
			return xfrmInf
		}
		return v
	}
	ne.PutUint64(b[0:], inf(softBytes))
	ne.PutUint64(b[8:], inf(hardBytes))
	ne.PutUint64(b[16:], xfrmInf) // packets
	ne.PutUint64(b[24:], xfrmInf)
	ne.PutUint64(b[32:], softAdd)
	ne.PutUint64(b[40:], hardAdd)
}

// rawData is a fixed-size struct at the head of a netlink request.
type rawData []byte

func (r rawData) Len() int          { return len(r) }
func (r rawData) Serialize() []byte { return r }
