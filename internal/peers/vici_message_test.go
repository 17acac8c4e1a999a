package peers

import (
	"encoding/binary"
	"strings"
	"testing"
)

func TestViciRoundTrip(t *testing.T) {
	child := NewViciMessage()
	child.Set("mode", "TUNNEL")
	child.SetList("local-ts", []string{"192.0.2.1/32", "2001:db8::1/128"})
	sa := NewViciMessage()
	sa.Set("state", "ESTABLISHED")
	sa.Set("empty", "")
	kids := NewViciMessage()
	kids.SetSection("c-1", child)
	sa.SetSection("child-sas", kids)
	root := NewViciMessage()
	root.SetSection("t", sa)

	b, err := viciPacket{typ: viciEvent, name: "list-sa", msg: root}.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.BigEndian.Uint32(b); int(n) != len(b)-4 {
		t.Fatalf("length prefix %d, packet has %d bytes", n, len(b)-4)
	}
	p, err := parseViciPacket(b[4:])
	if err != nil {
		t.Fatal(err)
	}
	if p.typ != viciEvent || p.name != "list-sa" {
		t.Fatalf("packet %d %q", p.typ, p.name)
	}
	if got, want := p.msg.String(), root.String(); got != want {
		t.Fatalf("round trip:\n got %s\nwant %s", got, want)
	}
	want := "{t {state=ESTABLISHED empty= child-sas {c-1 {mode=TUNNEL local-ts=[192.0.2.1/32 2001:db8::1/128]}}}}"
	if got := root.String(); got != want {
		t.Errorf("String:\n got %s\nwant %s", got, want)
	}
	sas, err := parseListSA(p.msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sas) != 1 || sas[0].Name != "t" || !sas[0].Established() || len(sas[0].Children) != 1 ||
		sas[0].Children[0].Name != "c-1" || sas[0].Children[0].LocalTS[1] != "2001:db8::1/128" {
		t.Errorf("parseListSA: %+v", sas)
	}
}

func TestViciParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty packet", nil, "empty packet"},
		{"unknown packet type", []byte{9}, "unknown packet type 9"},
		{"truncated name", []byte{viciEvent, 5, 'a'}, "truncated name"},
		{"unknown element", []byte{viciCmdResponse, 9}, "unknown element type 9 at offset 0"},
		{"truncated value", []byte{viciCmdResponse, viciKeyValue, 1, 'k', 0, 5, 'x'}, "key/value at offset 0: truncated"},
		{"unclosed section", []byte{viciCmdResponse, viciSectionStart, 1, 's'}, "1 section(s) not closed"},
		{"stray section end", []byte{viciCmdResponse, viciSectionEnd}, "section end at offset 0 without a section"},
		{"list without end", []byte{viciCmdResponse, viciListStart, 1, 'l', viciListItem, 0, 1, 'x'}, `list "l": no list end`},
		{"bad list item", []byte{viciCmdResponse, viciListStart, 1, 'l', viciKeyValue}, `list "l": bad item (type 3) at offset 3`},
		{"confirm with payload", []byte{viciEventConfirm, 1}, "1 unexpected bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseViciPacket(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	deep := []byte{viciCmdResponse}
	for i := 0; i < viciMaxDepth+2; i++ {
		deep = append(deep, viciSectionStart, 1, 's')
	}
	if _, err := parseViciPacket(deep); err == nil || !strings.Contains(err.Error(), "nesting deeper") {
		t.Errorf("deep nesting: %v", err)
	}
}

func FuzzViciPacket(f *testing.F) {
	m := NewViciMessage()
	m.Set("success", "yes")
	m.SetList("l", []string{"a", "b"})
	sub := NewViciMessage()
	sub.Set("k", "v")
	m.SetSection("s", sub)
	b, _ := viciPacket{typ: viciCmdResponse, msg: m}.marshal()
	f.Add(b[4:])
	f.Add([]byte{viciEventConfirm})
	f.Add([]byte{viciEvent, 7, 'l', 'i', 's', 't', '-', 's', 'a'})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseViciPacket(data)
		if err != nil {
			return
		}
		// whatever parses must re-encode to something that parses to the same message
		b, err := p.marshal()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		q, err := parseViciPacket(b[4:])
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if p.msg != nil && p.msg.String() != q.msg.String() {
			t.Fatalf("re-parse changed the message: %s vs %s", p.msg, q.msg)
		}
		if p.msg != nil {
			_, _ = parseListSA(p.msg)
		}
	})
}
