package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestRekeyFuzz(t *testing.T) {
	c, err := Load(Options{File: filepath.Join(t.TempDir(), "absent.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	if c.OE.RekeyFuzz != 0.5 {
		t.Errorf("default oe.rekey_fuzz %v, want 0.5", c.OE.RekeyFuzz)
	}
	for body, want := range map[string]float64{"0%": 0, "25%": 0.25, "100%": 1, "12.5%": 0.125} {
		c, err := Load(Options{File: write(t, "o.yaml", "oe:\n  rekey_fuzz: \""+body+"\"\n"), FileRequired: true})
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if c.OE.RekeyFuzz != want {
			t.Errorf("oe.rekey_fuzz %s: %v, want %v", body, c.OE.RekeyFuzz, want)
		}
	}
	for _, body := range []string{"150%", "-1%", "50", "half"} {
		_, err := Load(Options{File: write(t, "o.yaml", "oe:\n  rekey_fuzz: \""+body+"\"\n"), FileRequired: true})
		if err == nil || !strings.Contains(err.Error(), "oe.rekey_fuzz") {
			t.Errorf("oe.rekey_fuzz %s: err = %v, want one naming the key", body, err)
		}
	}
}
