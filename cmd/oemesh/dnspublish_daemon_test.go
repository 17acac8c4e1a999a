package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/netnstest"
)

// oemeshd publishes at start and, with withdraw_on_stop, removes exactly
// its records at a clean stop.
func TestDNSPublishDaemonWithdrawOnStop(t *testing.T) {
	b := newPublishBed(t, "dwd", "    withdraw_on_stop: true\n")
	d, stderr := b.startDaemon(t)
	b.publishStatus(t, func(s *control.PublishStatus) bool { return s.State == "published" })
	b.waitKeys(t, keyFingerprint(t, b.hostKey))
	if a := b.zone.Read(t, "b.example.", "A"); !strings.Contains(a, "198.18.0.2") {
		t.Fatalf("A at b.example.: %q", a)
	}
	if err := d.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(); err != nil {
		t.Fatalf("oemeshd exit: %v\n%s", err, stderr.String())
	}
	if got := b.zone.Read(t, "b.example.", "IPSECKEY") + b.zone.Read(t, "b.example.", "A"); got != "" {
		t.Fatalf("after the stop the zone still holds: %q\n%s", got, stderr.String())
	}
	if !strings.Contains(stderr.String(), "records withdrawn at stop") {
		t.Fatalf("log lacks the withdrawal:\n%s", stderr.String())
	}
}

// A new host key and SIGHUP: oemeshd publishes the new key beside the old,
// keeps signing with the old one for one TTL, then switches and withdraws
// the old record.
//
// A peer that cached only the old key (oemesh probe from another namespace,
// verifying our signature with --peer-key) comes up during the overlap;
// after it, only the new key verifies us.
func TestDNSPublishDaemonRolloverOnSIGHUP(t *testing.T) {
	b := newPublishBed(t, "dsig", "")
	b.ttl = "8s"
	b.writeConfig(t, b.zone.KeyFile(t), "")
	peer := netnstest.New(t, "dsigp")
	netnstest.Veth(t, peer, "vp", b.ns, "vb")
	peer.Addr(t, "vp", netip.MustParsePrefix("198.18.0.1/24"))
	b.ns.Addr(t, "vb", netip.MustParsePrefix("198.18.0.2/24"))
	writeFiles(t, filepath.Join(b.dir, "policies"), map[string]string{"private-or-clear": "198.18.0.0/24\n"})
	d, stderr := b.startDaemon(t)
	b.publishStatus(t, func(s *control.PublishStatus) bool { return s.State == "published" })
	old := keyFingerprint(t, b.hostKey)
	b.waitKeys(t, old)
	oldPub := publicKeyFile(t, b.hostKey, filepath.Join(b.dir, "old.pub"))
	probe := func(pub string) result {
		t.Helper()
		cmd := peer.Command(context.Background(), filepath.Join(builtDir, "oemesh"), "probe", "198.18.0.2",
			"--auth", "null", "--peer-auth", "key", "--peer-key", pub, "--timeout", "5s")
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return result{so.String(), se.String(), code}
	}
	if r := probe(oldPub); r.code != 0 {
		t.Fatalf("probe with the published key before the rollover: %+v\n%s", r, stderr.String())
	}

	if r := run(t, "oemesh", "newhostkey", "--out", b.hostKey, "--force"); r.code != 0 {
		t.Fatal(r)
	}
	nw := keyFingerprint(t, b.hostKey)
	if err := d.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	signing := func() string {
		r := run(t, "oemesh", "--socket", b.socket, "--json", "status")
		var st control.Status
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("status: %v %+v", err, r)
		}
		return st.KeyFingerprint
	}
	// The overlap: both published, the old one still signs.
	b.waitKeys(t, old, nw)
	if k := signing(); k != old {
		t.Fatalf("during the overlap oemeshd signs with %s, want the old key %s", k, old)
	}
	if r := probe(oldPub); r.code != 0 || !strings.Contains(r.stdout, "ESTABLISHED") {
		t.Fatalf("a peer holding the old key during the overlap: %+v", r)
	}
	// After one TTL: the new key signs, and is published alone.
	b.waitKeys(t, nw)
	if k := signing(); k != nw {
		t.Fatalf("after the rollover oemeshd signs with %s, want the new key %s", k, nw)
	}
	if r := probe(publicKeyFile(t, b.hostKey, filepath.Join(b.dir, "new.pub"))); r.code != 0 {
		t.Fatalf("a peer holding the new key after the rollover: %+v", r)
	}
	if r := probe(oldPub); r.code != probeExitAuth {
		t.Fatalf("a peer holding only the old key after the rollover: exit %d, want %d (AUTH does not verify): %+v", r.code, probeExitAuth, r)
	}
	if !strings.Contains(stderr.String(), "host key rollover done") {
		t.Fatalf("log:\n%s", stderr.String())
	}
}
