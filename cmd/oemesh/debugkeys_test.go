package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/internal/control"
)

// TestWriteWireshark: the two files hold one line per SA in Wireshark's
// formats, mode 0600 in a 0700 directory, also when a file existed with
// a wider mode; SAs Wireshark cannot decrypt are left out with a note.
func TestWriteWireshark(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "profile")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "esp_sa"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k := control.DebugKeys{
		IKE: []control.IKESAKeys{
			{SPIi: "0011223344556677", SPIr: "8899aabbccddeeff", Encr: 20, EncrKeyBits: 256, SKei: "aa", SKer: "bb"},
			{SPIi: "1111111111111111", SPIr: "2222222222222222", Encr: 12, EncrKeyBits: 128, Integ: 12, SKei: "01", SKer: "02", SKai: "03", SKar: "04"},
			{SPIi: "3333333333333333", SPIr: "4444444444444444", Encr: 28, SKei: "05", SKer: "06"},
		},
		ESP: []control.ESPSAKeys{
			{Src: "198.18.0.1", Dst: "198.18.0.2", SPI: "c0ffee01", AEAD: "aes-gcm-16", Key: "00112233"},
			{Src: "2001:db8::2", Dst: "2001:db8::1", SPI: "c0ffee02", AEAD: "chacha20-poly1305", Key: "44556677"},
		},
	}
	files, notes, err := writeWireshark(dir, k)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"ikev2_decryption_table": {
			`0011223344556677,8899aabbccddeeff,aa,bb,"AES-GCM-256 with 16 octet ICV [RFC5282]",,,"NONE [RFC4306]"`,
			`1111111111111111,2222222222222222,01,02,"AES-CBC-128 [RFC3602]",03,04,"HMAC_SHA2_256_128 [RFC4868]"`,
		},
		"esp_sa": {
			`"IPv4","198.18.0.1","198.18.0.2","0xc0ffee01","AES-GCM with 16 octet ICV [RFC4106]","0x00112233","NULL",""`,
			`"IPv6","2001:db8::2","2001:db8::1","0xc0ffee02","ChaCha20 with Poly1305 [RFC7634]","0x44556677","NULL",""`,
		},
	}
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
	for name, lines := range want {
		path := filepath.Join(dir, name)
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", name, st.Mode(), err)
		}
		b, _ := os.ReadFile(path)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if !strings.HasPrefix(l, "#") {
				got = append(got, l)
			}
		}
		if strings.Join(got, "\n") != strings.Join(lines, "\n") {
			t.Errorf("%s:\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(lines, "\n"))
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "3333333333333333") {
		t.Errorf("notes %q, want one for the ChaCha20 IKE SA", notes)
	}
	fresh := filepath.Join(t.TempDir(), "new", "dir")
	if _, _, err := writeWireshark(fresh, control.DebugKeys{}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(fresh); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("new directory: mode %v, %v; want 0700", st.Mode(), err)
	}
}

// TestDebugKeysNeedsDir: without --wireshark, a usage error.
func TestDebugKeysNeedsDir(t *testing.T) {
	r := run(t, "oemesh", "debug", "keys")
	if r.code != exitUsage || !strings.Contains(r.stderr, "debug keys needs --wireshark DIR") {
		t.Errorf("%+v", r)
	}
}
