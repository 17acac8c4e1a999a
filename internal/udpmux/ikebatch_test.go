package udpmux

import (
	"bytes"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// ikeMessage is an IKE header's worth of octets (28) that Classify takes
// for IKE on port 500, numbered by its last octet.
func ikeMessage(i byte) []byte {
	b := bytes.Repeat([]byte{0}, 28)
	b[17], b[27] = 0x20, i
	return b
}

// The IKE port is read IKEBatch datagrams at a time: what waits in the
// socket comes in one read with IKEBatch 16, and in one read each with
// the default of 1.
func TestIKEBatch(t *testing.T) {
	for _, c := range []struct{ batch, reads int }{{16, 1}, {0, 10}} {
		var (
			mu  sync.Mutex
			got [][]byte
		)
		h := func(pkt []byte, _, _ netip.AddrPort) {
			mu.Lock()
			got = append(got, pkt)
			mu.Unlock()
		}
		m, start := listenQueued(t, Config{Addrs: []netip.Addr{loop4}, IKEBatch: c.batch}, nil, h)
		ike, _ := m.LocalAddrs()
		peer, _ := peerSocket(t)
		const n = 10
		for i := range n {
			if _, err := peer.WriteToUDPAddrPort(ikeMessage(byte(i)), ike[0]); err != nil {
				t.Fatal(err)
			}
		}
		start()
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			k := len(got)
			mu.Unlock()
			if k == n || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		mu.Lock()
		for i, p := range got {
			if !bytes.Equal(p, ikeMessage(byte(i))) {
				t.Errorf("IKEBatch %d: message %d is %x", c.batch, i, p)
			}
		}
		mu.Unlock()
		if st := m.Stats(); st.Reads != uint64(c.reads) || st.IKEIn != n {
			t.Errorf("IKEBatch %d: %d reads, %d IKE in; want %d and %d", c.batch, st.Reads, st.IKEIn, c.reads, n)
		}
	}
}
