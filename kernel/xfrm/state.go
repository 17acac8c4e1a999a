package xfrm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/oemesh/oemesh/kernel"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// defaultReplay is the inbound anti-replay window when the caller leaves it 0.
const defaultReplay = 128

// state is one ESP SA as we install it.
type state struct {
	Src, Dst netip.Addr // outer addresses
	SPI      uint32
	Reqid    uint32
	Mode     uint8
	AEAD     kernel.AEAD
	Key      []byte // cipher key ‖ 4-byte salt
	ESN      bool
	Replay   uint32 // window; 0 for outbound SAs
	Encap    *kernel.Encap
	Life     kernel.Lifetime
	Sel      *selector // nil: any (the policies select)
}

func (s state) String() string {
	return fmt.Sprintf("SA %s→%s spi %#08x reqid %d", s.Src, s.Dst, s.SPI, s.Reqid)
}

// aeadName returns the kernel's name of the transform and checks the key
// length (RFC 4106 §8.1, RFC 7634 §2: key ‖ 4-byte salt).
func aeadName(a kernel.AEAD, key []byte) (string, error) {
	switch a {
	case kernel.AESGCM16:
		if n := len(key); n != 20 && n != 28 && n != 36 {
			return "", fmt.Errorf("aes-gcm-16 key is %d bytes, want 16, 24 or 32 plus 4 bytes salt", n)
		}
		return "rfc4106(gcm(aes))", nil
	case kernel.ChaCha20Poly1305:
		if len(key) != 36 {
			return "", fmt.Errorf("chacha20-poly1305 key is %d bytes, want 32 plus 4 bytes salt", len(key))
		}
		return "rfc7539esp(chacha20,poly1305)", nil
	}
	return "", fmt.Errorf("unknown AEAD %d", a)
}

func (s state) marshal() ([]byte, []*nl.RtAttr, error) {
	name, err := aeadName(s.AEAD, s.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s, err)
	}
	if familyOf(s.Src) != familyOf(s.Dst) {
		return nil, nil, fmt.Errorf("%s: outer addresses of different families", s)
	}
	b := make([]byte, sizeofUsersaInfo)
	if s.Sel != nil {
		putSelector(b, *s.Sel)
	} else {
		// An any-selector must still name a family, or the kernel takes
		// the SA's (AF_UNSPEC wildcard needs the AF_UNSPEC flag).
		ne.PutUint16(b[offSelFamily:], familyOf(s.Dst))
	}
	putAddr(b[offInfoID:], s.Dst)
	binary.BigEndian.PutUint32(b[offInfoID+16:], s.SPI)
	b[offInfoID+20] = protoESP
	putAddr(b[offInfoSaddr:], s.Src)
	putLft(b[offInfoLft:], s.Life.SoftBytes, s.Life.HardBytes, seconds(s.Life.SoftAdd), seconds(s.Life.HardAdd))
	ne.PutUint32(b[offInfoReqid:], s.Reqid)
	ne.PutUint16(b[offInfoFamily:], familyOf(s.Dst))
	b[offInfoMode] = s.Mode

	alg := make([]byte, 72+len(s.Key))
	copy(alg, name)
	ne.PutUint32(alg[64:], uint32(len(s.Key)*8))
	ne.PutUint32(alg[68:], 128) // ICV bits: both transforms use a 16-byte tag
	copy(alg[72:], s.Key)
	attrs := []*nl.RtAttr{nl.NewRtAttr(nl.XFRMA_ALG_AEAD, alg)}

	// Windows above 32 do not fit the legacy u8 field (the kernel clamps
	// it): they go in XFRMA_REPLAY_ESN_VAL, which the kernel also needs for
	// ESN. Without the ESN flag the kernel uses it as a plain bitmap window.
	if s.ESN || s.Replay > 32 {
		r := make([]byte, sizeofReplayESN)
		ne.PutUint32(r[0:], (s.Replay+31)/32) // bmp_len in u32 words
		ne.PutUint32(r[20:], s.Replay)
		attrs = append(attrs, nl.NewRtAttr(nl.XFRMA_REPLAY_ESN_VAL, r))
	} else {
		b[offInfoReplay] = uint8(s.Replay)
	}
	if s.ESN {
		b[offInfoFlags] |= stateFlagESN
	}
	if s.Encap != nil {
		e := make([]byte, sizeofEncapTmpl)
		ne.PutUint16(e[0:], unix.UDP_ENCAP_ESPINUDP)
		binary.BigEndian.PutUint16(e[2:], s.Encap.SrcPort)
		binary.BigEndian.PutUint16(e[4:], s.Encap.DstPort)
		attrs = append(attrs, nl.NewRtAttr(nl.XFRMA_ENCAP, e))
	}
	return b, attrs, nil
}

func seconds(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Second - 1) / time.Second)
}

// putState installs an SA. With update it replaces an existing SA with the
// same (dst, spi) — the larval state that ALLOCSPI made — and falls back to
// adding when there is none.
func (e *executor) putState(s state, update bool) error {
	head, attrs, err := s.marshal()
	if err != nil {
		return fmt.Errorf("install %w", err)
	}
	if update {
		_, err = e.request(nl.XFRM_MSG_UPDSA, 0, head, attrs...)
		if !errors.Is(err, unix.ESRCH) {
			if err != nil {
				return fmt.Errorf("update %s: %w", s, err)
			}
			return nil
		}
	}
	if _, err := e.request(nl.XFRM_MSG_NEWSA, unix.NLM_F_CREATE|unix.NLM_F_EXCL, head, attrs...); err != nil {
		return fmt.Errorf("install %s: %w", s, err)
	}
	return nil
}

func usersaID(dst netip.Addr, spi uint32) []byte {
	b := make([]byte, sizeofUsersaID)
	putAddr(b, dst)
	binary.BigEndian.PutUint32(b[16:], spi)
	ne.PutUint16(b[20:], familyOf(dst))
	b[22] = protoESP
	return b
}

// delState deletes the ESP SA (dst, spi).
func (e *executor) delState(dst netip.Addr, spi uint32) error {
	if _, err := e.request(nl.XFRM_MSG_DELSA, 0, usersaID(dst, spi)); err != nil {
		return fmt.Errorf("delete SA to %s spi %#08x: %w", dst, spi, err)
	}
	return nil
}

// stateInfo is what we read back of an SA.
type stateInfo struct {
	Src, Dst netip.Addr
	SPI      uint32
	Reqid    uint32
	Mode     uint8
	Bytes    uint64
	Packets  uint64
	AddTime  time.Time
	LastUsed time.Time // zero if never used
}

func parseState(b []byte) (stateInfo, error) {
	if len(b) < sizeofUsersaInfo {
		return stateInfo{}, fmt.Errorf("SA: %d bytes, want at least %d", len(b), sizeofUsersaInfo)
	}
	fam := ne.Uint16(b[offInfoFamily:])
	dst, err := parseAddr(b[offInfoID:], fam)
	if err != nil {
		return stateInfo{}, fmt.Errorf("SA: %w", err)
	}
	src, _ := parseAddr(b[offInfoSaddr:], fam)
	si := stateInfo{
		Src:     src,
		Dst:     dst,
		SPI:     binary.BigEndian.Uint32(b[offInfoID+16:]),
		Reqid:   ne.Uint32(b[offInfoReqid:]),
		Mode:    b[offInfoMode],
		Bytes:   ne.Uint64(b[offInfoCurlft:]),
		Packets: ne.Uint64(b[offInfoCurlft+8:]),
	}
	if t := ne.Uint64(b[offInfoCurlft+16:]); t != 0 {
		si.AddTime = time.Unix(int64(t), 0)
	}
	attrs, err := parseAttrs(b[sizeofUsersaInfo:])
	if err != nil {
		return si, fmt.Errorf("%s spi %#08x: attributes: %w", dst, si.SPI, err)
	}
	for _, a := range attrs {
		if a.Type == nl.XFRMA_LASTUSED && len(a.Value) >= 8 {
			if t := ne.Uint64(a.Value); t != 0 {
				si.LastUsed = time.Unix(int64(t), 0)
			}
		}
	}
	return si, nil
}

// getState reads one SA with its counters and last use.
func (e *executor) getState(dst netip.Addr, spi uint32) (stateInfo, error) {
	msgs, err := e.request(nl.XFRM_MSG_GETSA, 0, usersaID(dst, spi))
	if err != nil {
		return stateInfo{}, fmt.Errorf("read SA to %s spi %#08x: %w", dst, spi, err)
	}
	if len(msgs) == 0 {
		return stateInfo{}, fmt.Errorf("read SA to %s spi %#08x: empty answer", dst, spi)
	}
	return parseState(msgs[0])
}

// states dumps the SA table.
func (e *executor) states() ([]stateInfo, error) {
	msgs, err := e.dump(nl.XFRM_MSG_GETSA, nil)
	if err != nil {
		return nil, fmt.Errorf("dump SAs: %w", err)
	}
	out := make([]stateInfo, 0, len(msgs))
	for _, m := range msgs {
		si, err := parseState(m)
		if err != nil {
			return nil, fmt.Errorf("dump SAs: %w", err)
		}
		out = append(out, si)
	}
	return out, nil
}

// allocSPI asks the kernel for an unused inbound SPI for src→dst: a larval
// SA that lapses after net.core.xfrm_acq_expires unless UPDSA completes it.
func (e *executor) allocSPI(src, dst netip.Addr, reqid uint32, mode uint8) (uint32, error) {
	b := make([]byte, sizeofSpiInfo)
	ne.PutUint16(b[offSelFamily:], familyOf(dst))
	putAddr(b[offInfoID:], dst)
	b[offInfoID+20] = protoESP
	putAddr(b[offInfoSaddr:], src)
	putLft(b[offInfoLft:], 0, 0, 0, 0)
	ne.PutUint32(b[offInfoReqid:], reqid)
	ne.PutUint16(b[offInfoFamily:], familyOf(dst))
	b[offInfoMode] = mode
	ne.PutUint32(b[sizeofUsersaInfo:], 0x100)        // min: below 256 is reserved (RFC 4303 §2.1)
	ne.PutUint32(b[sizeofUsersaInfo+4:], 0xffffffff) // max
	msgs, err := e.request(nl.XFRM_MSG_ALLOCSPI, 0, b)
	if err != nil {
		return 0, fmt.Errorf("allocate SPI for %s→%s: %w", src, dst, err)
	}
	if len(msgs) == 0 {
		return 0, fmt.Errorf("allocate SPI for %s→%s: empty answer", src, dst)
	}
	si, err := parseState(msgs[0])
	if err != nil {
		return 0, fmt.Errorf("allocate SPI for %s→%s: %w", src, dst, err)
	}
	return si.SPI, nil
}

// delLarval removes a larval SA (SPI 0) that a trap's ACQUIRE left. DELSA
// cannot find a state without SPI, but ALLOCSPI with the same addresses,
// reqid and mode adopts it (the kernel's __find_acq_core) and gives it one.
func (e *executor) delLarval(s stateInfo) error {
	spi, err := e.allocSPI(s.Src, s.Dst, s.Reqid, s.Mode)
	if err != nil {
		return fmt.Errorf("remove larval SA %s→%s reqid %#x: %w", s.Src, s.Dst, s.Reqid, err)
	}
	return e.delState(s.Dst, spi)
}
