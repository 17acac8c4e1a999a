package userspace

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/oemesh/oemesh/internal/clock"
)

// DefaultFwMark is the fwmark of the data plane's own sockets when
// Config.FwMark is zero. A daemon that opens its IKE sockets before the
// device gives them this mark.
const DefaultFwMark = 0x10e2

// Config configures a Device. Zero fields take the defaults below.
type Config struct {
	// TUNName is the TUN device's name (default "oemesh0"). A device of that
	// name left by a crashed run is removed at start.
	TUNName string
	// MTU of the TUN device (default 1400): the path MTU less the ESP
	// overhead (outer IPv6 40, UDP 8, SPI/seq/IV 16, trailer up to 5, ICV 16).
	MTU int
	// Table is the routing table that holds our trap routes (default 4322).
	// Every route in it is ours: it is flushed at start and on Close.
	Table int
	// RulePriority is the priority of our ip rules, one per family
	// (default 4322): "not fwmark FwMark/FwMark lookup Table".
	RulePriority int
	// GuardTable is the guard's routing table (default Table+1): a
	// blackhole for every private and block trap, a throw for every other
	// one (guard.go). It outlives the process: a crash leaves it, and so
	// does Close with FailClosed; New never flushes it.
	GuardTable int
	// GuardPriority is the priority of the guard's ip rules (default
	// RulePriority+1). It must be after RulePriority, so that the data
	// plane's table decides while it runs, and before main's 32766.
	GuardPriority int
	// FwMark marks our own sockets so that they bypass the trap (default
	// DefaultFwMark). Give the same mark to the IKE and DNS sockets
	// (SO_MARK).
	FwMark uint32

	// EncapPort is the UDP port for ESP-in-UDP (RFC 3948), default 4500.
	// Set NoEncap to open no UDP socket (then no SA may use NAT-T).
	EncapPort uint16
	NoEncap   bool
	// NonESP receives UDP datagrams on EncapPort that are not ESP: IKE
	// behind the 4-byte non-ESP marker (RFC 3948 §2.2), passed without the
	// marker; without it they are dropped. pkt is only valid during the
	// call. (The IKE daemon cannot bind EncapPort itself while this data
	// plane holds it; set NoEncap when it needs to, or EncapSend.)
	NonESP func(pkt []byte, from netip.AddrPort)
	// EncapSend, when set, carries ESP-in-UDP through a socket the device
	// does not own: the IKE daemon's NAT-T socket, which shares the port
	// with IKE. The device then opens no UDP socket; it sends each sealed
	// ESP-in-UDP packet (the UDP payload, starting with the SPI) through
	// EncapSend from the SA's local address and encapsulation source port
	// to the peer's, and takes inbound ESP-in-UDP from Device.DeliverEncap
	// (kernel.EncapSink). pkt is only valid during the call. NoEncap and
	// NonESP do not apply.
	EncapSend func(pkt []byte, local, remote netip.AddrPort) error
	// EncapSendBatch, when set with EncapSend, sends a train of sealed
	// packets of one SA at once (in order, from local to remote), so that
	// the socket's owner can use sendmmsg and UDP GSO; it returns how many
	// it sent. The slices are only valid during the call.
	EncapSendBatch func(pkts [][]byte, local, remote netip.AddrPort) (int, error)
	// InjectQueue bounds the packets given to DeliverEncap and not yet read
	// by the data path (default 1024); more are dropped and counted.
	InjectQueue int

	// HoldPackets and HoldBytes bound the queue of one flow waiting for an
	// SA (defaults 64 packets, 256 KiB); HoldTotalBytes bounds all of them
	// (default 16 MiB). HoldTimeout drops a queue that waited that long
	// with neither SA nor shunt (default 30 s, like xfrm_acq_expires); the
	// next packet then raises a new acquire.
	HoldPackets    int
	HoldBytes      int
	HoldTotalBytes int
	HoldTimeout    time.Duration

	// SPITimeout is how long an SPI from AllocSPI stays reserved without
	// InstallSA (default 30 s).
	SPITimeout time.Duration

	// Workers is the number of goroutines that seal and open packets in
	// each direction (default GOMAXPROCS). With 1 there are none: the
	// goroutine that reads a batch seals or opens it itself, since one
	// worker would only add a hand-off.
	Workers int

	// NoOffloads opens the TUN device without the virtio-net header: no
	// TSO super-packets in, no GRO on the way out, one packet per read and
	// per write; and the device's own ESP-in-UDP sockets without UDP GSO
	// and GRO, one datagram per message. Offloads are on by default where
	// the kernel has them; Stats says what is in use.
	NoOffloads bool

	// Techniques switches the fast path's techniques off one by one, for
	// the benchmark that measures each (techniques.go); zero: all on.
	Techniques Techniques

	// Tick is how often lifetimes, shunts and holds are checked (default 1 s).
	Tick time.Duration

	// CipherIdle releases the AEAD state of an SA direction that carried
	// no packet for that long (checked every Tick); its next packet builds
	// it again from the keys, in about a microsecond. Idle peers then keep
	// their keys, not ≈ 770 bytes of AES-GCM state per direction. Default
	// 30 s; negative: never release.
	CipherIdle time.Duration

	// FailClosed leaves the guard in place at Close, so that private and
	// block prefixes stay blackholed, not sent in clear, until the next
	// start replaces it without a gap. Without it Close removes the guard
	// (a crash cannot: then the guard stays, which is the safe side).
	FailClosed bool
	// GuardNegotiating (kernel.guard_negotiating) also blackholes, in the
	// guard, each destination (a /32 or /128) while a flow to it is held
	// waiting for an SA or a shunt, so that a crash in the middle of a
	// negotiation does not let a private-or-clear flow out in clear; the
	// route goes when the hold ends (guardheld.go). Off: only the traps'
	// groups decide what the guard blocks.
	GuardNegotiating bool

	// Clock defaults to the system clock; tests move a fake one so that
	// lifetimes, shunt expiry and hold timeouts need no sleeping.
	Clock  clock.Clock
	Logger *slog.Logger
}

func (c *Config) withDefaults() (Config, error) {
	o := *c
	if o.TUNName == "" {
		o.TUNName = "oemesh0"
	}
	if o.MTU == 0 {
		o.MTU = 1400
	}
	if o.MTU < 1280 || o.MTU > maxMTU {
		return o, fmt.Errorf("userspace: MTU %d out of range [1280, %d]", o.MTU, maxMTU)
	}
	if o.Table == 0 {
		o.Table = 4322
	}
	if o.RulePriority == 0 {
		o.RulePriority = 4322
	}
	if o.GuardTable == 0 {
		o.GuardTable = o.Table + 1
	}
	if o.GuardPriority == 0 {
		o.GuardPriority = o.RulePriority + 1
	}
	if err := checkTables(&o); err != nil {
		return o, err
	}
	if o.FwMark == 0 {
		o.FwMark = DefaultFwMark
	}
	if o.InjectQueue == 0 {
		o.InjectQueue = 1024
	}
	if o.InjectQueue < 0 {
		return o, fmt.Errorf("userspace: InjectQueue %d is negative", o.InjectQueue)
	}
	if o.EncapPort == 0 {
		o.EncapPort = 4500
	}
	if o.HoldPackets == 0 {
		o.HoldPackets = 64
	}
	if o.HoldBytes == 0 {
		o.HoldBytes = 256 << 10
	}
	if o.HoldTotalBytes == 0 {
		o.HoldTotalBytes = 16 << 20
	}
	if o.HoldTimeout == 0 {
		o.HoldTimeout = 30 * time.Second
	}
	if o.SPITimeout == 0 {
		o.SPITimeout = 30 * time.Second
	}
	var err error
	if o.Techniques, err = o.Techniques.withDefaults(); err != nil {
		return o, err
	}
	if o.Tick == 0 {
		o.Tick = time.Second
	}
	if o.CipherIdle == 0 {
		o.CipherIdle = 30 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Routing tables the kernel reserves (default, main, local) and the
// priority of the rule that looks up main.
const (
	tableDefault = 253
	tableLocal   = 255
	mainRulePrio = 32766
)

func checkTables(o *Config) error {
	for _, t := range []struct {
		name string
		v    int
	}{{"Table", o.Table}, {"GuardTable", o.GuardTable}} {
		if t.v < 1 || t.v > 0xffffffff || (t.v >= tableDefault && t.v <= tableLocal) {
			return fmt.Errorf("userspace: %s %d: want 1..4294967295 and not 253 (default), 254 (main) or 255 (local)", t.name, t.v)
		}
	}
	if o.GuardTable == o.Table {
		return fmt.Errorf("userspace: GuardTable %d is the data plane's own Table; the guard needs a table of its own", o.GuardTable)
	}
	if o.RulePriority < 1 || o.GuardPriority <= o.RulePriority || o.GuardPriority >= mainRulePrio {
		return fmt.Errorf("userspace: rule priorities %d (RulePriority) and %d (GuardPriority): want 1 ≤ RulePriority < GuardPriority < %d (main), so the data plane decides first and the guard before main",
			o.RulePriority, o.GuardPriority, mainRulePrio)
	}
	return nil
}
