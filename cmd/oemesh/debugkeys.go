package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/control"
)

func newDebugCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "debug",
		Short: "Debugging aids for one's own host",
	}
	cmd.AddCommand(newDebugKeysCmd(g), newDebugProfileCmd(g))
	return cmd
}

func newDebugKeysCmd(g *globalFlags) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "keys --wireshark DIR",
		Short: "Write the keys of the live IKE and ESP SAs in Wireshark's formats, to decrypt a capture",
		Long: `Write the keys of oemeshd's live SAs into DIR (made 0700 if missing) as the
two files Wireshark reads from a profile directory:

  ikev2_decryption_table  the IKE SAs' SK_e and SK_a keys, by SPIs
                          (Preferences → Protocols → ISAKMP)
  esp_sa                  the ESP SAs' keys, by addresses and SPI
                          (Preferences → Protocols → ESP; tick "Attempt to
                          detect/decode encrypted ESP payloads")

Point DIR at a Wireshark profile (e.g. ~/.config/wireshark/profiles/oemesh)
or copy the files there. Each file is written anew, mode 0600.

Anyone who reads these files can decrypt and forge the traffic of these SAs:
use this only on one's own host, for debugging, and delete the files after.
Root only. SAs set up later are not in the files: run it again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageError(cmd, "debug keys needs --wireshark DIR")
			}
			if os.Geteuid() != 0 {
				return errors.New("debug keys: root only (the keys decrypt this host's traffic)")
			}
			var k control.DebugKeys
			if err := g.call(cmd.Context(), "GET", "/v1/debug/keys", nil, &k); err != nil {
				return err
			}
			files, notes, err := writeWireshark(dir, k)
			if err != nil {
				return err
			}
			w := cmd.ErrOrStderr()
			fmt.Fprintf(w, "warning: %s now hold the keys of %d IKE SA(s) and %d ESP SA(s): whoever reads them can decrypt and forge this traffic; delete them when done\n",
				strings.Join(files, " and "), len(k.IKE), len(k.ESP))
			for _, n := range notes {
				fmt.Fprintf(w, "note: %s\n", n)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "wireshark", "", "directory to write ikev2_decryption_table and esp_sa into")
	return cmd
}

// writeWireshark writes k into dir as ikev2_decryption_table and esp_sa,
// each 0600, and returns their paths and notes on SAs Wireshark cannot
// decrypt.
func writeWireshark(dir string, k control.DebugKeys) (files, notes []string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("debug keys: %w", err)
	}
	ikeText, ikeNotes := ikev2DecryptionTable(k.IKE)
	espText, espNotes := espSATable(k.ESP)
	for _, f := range []struct{ name, text string }{{"ikev2_decryption_table", ikeText}, {"esp_sa", espText}} {
		path := filepath.Join(dir, f.name)
		if err := writePrivate(path, f.text); err != nil {
			return files, nil, fmt.Errorf("debug keys: %w", err)
		}
		files = append(files, path)
	}
	return files, append(ikeNotes, espNotes...), nil
}

// writePrivate replaces path with text, readable by its owner only, also
// when the file existed with a wider mode.
func writePrivate(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := io.WriteString(f, text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Wireshark's names of the IKEv2 transforms oemesh negotiates, as its
// ISAKMP dissector's ikev2_decryption_table takes them (the IANA IDs:
// ENCR 12 AES-CBC, 20 AES-GCM with a 16-octet ICV; INTEG 12, 13 and 14
// HMAC-SHA2-256/384/512). Wireshark has no ChaCha20-Poly1305 for IKE.
func ikev2EncrName(id uint16, bits int) (string, bool) {
	switch id {
	case 12:
		return fmt.Sprintf("AES-CBC-%d [RFC3602]", bits), true
	case 20:
		return fmt.Sprintf("AES-GCM-%d with 16 octet ICV [RFC5282]", bits), true
	}
	return "", false
}

func ikev2IntegName(id uint16) (string, bool) {
	switch id {
	case 0:
		return "NONE [RFC4306]", true
	case 12:
		return "HMAC_SHA2_256_128 [RFC4868]", true
	case 13:
		return "HMAC_SHA2_384_192 [RFC4868]", true
	case 14:
		return "HMAC_SHA2_512_256 [RFC4868]", true
	}
	return "", false
}

// ikev2DecryptionTable is Wireshark's ikev2_decryption_table: one line
// per IKE SA, SPIi,SPIr,SK_ei,SK_er,"encryption",SK_ai,SK_ar,"integrity".
func ikev2DecryptionTable(sas []control.IKESAKeys) (string, []string) {
	var b strings.Builder
	var notes []string
	b.WriteString("# IKEv2 SA keys of oemeshd (oemesh debug keys): secret.\n")
	for _, k := range sas {
		encr, ok1 := ikev2EncrName(k.Encr, k.EncrKeyBits)
		integ, ok2 := ikev2IntegName(k.Integ)
		if !ok1 || !ok2 {
			notes = append(notes, fmt.Sprintf("IKE SA %s/%s: Wireshark cannot decrypt its transforms (ENCR %d, INTEG %d); left out", k.SPIi, k.SPIr, k.Encr, k.Integ))
			continue
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,%q,%s,%s,%q\n", k.SPIi, k.SPIr, k.SKei, k.SKer, encr, k.SKai, k.SKar, integ)
	}
	return b.String(), notes
}

// espSATable is Wireshark's esp_sa: one line per ESP SA, "protocol","src",
// "dst","SPI","encryption","key","authentication","authentication key".
// AEADs have no separate authentication.
func espSATable(sas []control.ESPSAKeys) (string, []string) {
	var b strings.Builder
	var notes []string
	b.WriteString("# ESP SA keys of oemeshd (oemesh debug keys): secret.\n")
	for _, k := range sas {
		var encr string
		switch k.AEAD {
		case "aes-gcm-16":
			encr = "AES-GCM with 16 octet ICV [RFC4106]"
		case "chacha20-poly1305":
			encr = "ChaCha20 with Poly1305 [RFC7634]"
		default:
			notes = append(notes, fmt.Sprintf("ESP SA %s: Wireshark cannot decrypt %s; left out", k.SPI, k.AEAD))
			continue
		}
		proto := "IPv4"
		if a, err := netip.ParseAddr(k.Src); err == nil && a.Is6() && !a.Is4In6() {
			proto = "IPv6"
		}
		fmt.Fprintf(&b, "%q,%q,%q,\"0x%s\",%q,\"0x%s\",\"NULL\",\"\"\n", proto, k.Src, k.Dst, k.SPI, encr, k.Key)
	}
	return b.String(), notes
}
