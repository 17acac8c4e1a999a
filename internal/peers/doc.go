// Package peers starts real IKEv2 peers — strongSwan's charon and Libreswan's pluto — inside
// network namespaces for interop tests, and reads back what they negotiated.
//
// Each instance gets its own directory (configs, keys, NSS db, sockets, logs) and is
// stopped, by its own pid, in t.Cleanup; set OEMESH_PEERS_KEEP=1 to keep the directories
// for debugging. Nothing under /etc or /usr is changed: pluto's resolv.conf is bind-mounted
// inside its own mount namespace, and strongSwan runs from the tree that
// scripts/install-peers.sh unpacked (Debian's strongSwan and libreswan packages conflict,
// so strongSwan is not installed through dpkg).
//
// Two strongSwan builds (StrongSwanConfig.Version):
//   - StrongSwan5 (the default), Debian 12's 5.9.8, from the unpacked tree above;
//   - StrongSwan6, strongSwan 6.1 with ML-KEM (OpenSSL >= 3.5), IKE_INTERMEDIATE (RFC 9242)
//     and additional key exchanges (RFC 9370), which Debian 12 does not have: it runs from a
//     Debian sid chroot that scripts/install-peers.sh builds with debootstrap
//     (Install.StrongSwan6Root). charon and swanctl run under `unshare --mount` with the
//     chroot's /proc, /dev and /sys bind-mounted, a private tmpfs on its /run and the
//     instance directory bind-mounted at /run/oemesh; those mounts live in that mount
//     namespace only and end with the process, so the host's mount table and /run never
//     see them. The same vici client, config writer and data planes serve both; proposals
//     with keN_ (e.g. "aes256gcm16-prfsha384-x25519-ke1_mlkem768") are accepted for 6.1
//     only. Tests that use it call [RequireStrongSwan6].
//
// This kernel has no ESP. The harness gives each peer the data plane that works here:
//   - strongSwan: kernel-libipsec by default (userspace ESP over a TUN device, always
//     UDP-encapsulated, tunnel mode only), with policy-routing rules that keep IKE out of
//     the TUN, so CHILD SAs install and carry pings; or real XFRM (Netlink), where policies,
//     traps and ACQUIREs work but every SA install fails.
//   - Libreswan: XFRM only. IKE completes and the CHILD SA is negotiated, then the SA add
//     fails with ENOSYS; a responder then answers TS_UNACCEPTABLE, an initiator deletes its
//     IKE SA. [Libreswan.ChildResult] tells that case apart from a real refusal by reading
//     pluto's log.
//
// Tests call [Require] first: when the peers are not installed it fails the test with
// "run `make deps`" (it skips only under go test -short, or without root).
//
// An IKE interop test, with oemesh in namespace A and strongSwan responding in B:
//
//	in := peers.Require(t)
//	net := netnstest.NewPair(t, "ik")
//	ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{
//		Conns: []peers.StrongSwanConn{{
//			Name: "oemesh", LocalAddrs: []string{net.B4.String()}, RemoteAddrs: []string{net.A4.String()},
//			Proposals: []string{"aes128gcm16-prfsha256-x25519"},
//			Local:     peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: net.B4.String(), Key: sswKey},
//			Remote:    peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: net.A4.String(), PublicKey: ourKey.Public()},
//			Children:  []peers.StrongSwanChild{{Name: "host", ESPProposals: []string{"aes128gcm16"}}},
//		}},
//	})
//	out, err := net.A.Command(ctx, oemeshBin, "probe", net.B4.String(), ...).CombinedOutput()
//	sa, err := ssw.WaitEstablished(ctx, "oemesh", "host") // IKE SA up, CHILD SA installed
//
// The same with strongSwan 6.1 and a hybrid proposal (it then negotiates X25519 plus
// ML-KEM-768 in an IKE_INTERMEDIATE exchange; IKESA.AdditionalKE reports ["ML_KEM_768"]):
//
//	in := peers.RequireStrongSwan6(t)
//	ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{
//		Version: peers.StrongSwan6,
//		Conns: []peers.StrongSwanConn{{ /* as above */ Proposals: []string{"aes256gcm16-prfsha384-x25519-ke1_mlkem768"}}},
//	})
//
// and with Libreswan initiating NULL-auth OE toward an `oemesh respond` in B:
//
//	lsw := peers.StartLibreswan(t, in, net.A.Name, peers.LibreswanConfig{
//		Conns:    peers.OEConns(net.A4.String()),
//		Policies: map[string][]string{"private-or-clear": {"192.0.2.0/24"}},
//	})
//	mark := lsw.Log.Mark()
//	lsw.Oppo(ctx, net.A4.String(), net.B4.String())   // or a packet that hits the trap
//	r, err := lsw.WaitChild(ctx, mark, net.B4.String()) // r.Outcome == peers.ChildKernelNoESP here
//
// peers is test infrastructure: only tests may import it, and it imports nothing of ours.
package peers
