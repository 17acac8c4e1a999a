package ike

import (
	"net/netip"
	"reflect"
	"testing"
	"unsafe"
)

// TestSASize holds the structs kept for every peer to their size
// classes (issue 21: idle heap per peer at 10,000 peers). An IKE SA was
// 608 octets (class 640), a CHILD SA 384.
func TestSASize(t *testing.T) {
	for _, c := range []struct {
		name      string
		size, max uintptr
	}{
		{"ikeSA", unsafe.Sizeof(ikeSA{}), 576},
		{"childSA", unsafe.Sizeof(childSA{}), 288},
	} {
		if c.size > c.max {
			t.Errorf("%s is %d octets, want ≤ %d (its size class: keep what only some SAs need behind a pointer)", c.name, c.size, c.max)
		}
	}
}

// TestChildCoreFields: childCore has every field of ChildSA but the four
// keys, of the same type, and public copies each one (a field added to
// ChildSA and not here would reach no data plane).
func TestChildCoreFields(t *testing.T) {
	keys := map[string]bool{"EncrKeyIn": true, "EncrKeyOut": true, "IntegKeyIn": true, "IntegKeyOut": true}
	pub, core := reflect.TypeFor[ChildSA](), reflect.TypeFor[childCore]()
	var c childCore
	cv := reflect.ValueOf(&c).Elem()
	for i := range pub.NumField() {
		f := pub.Field(i)
		if keys[f.Name] {
			continue
		}
		cf, ok := core.FieldByName(f.Name)
		if !ok || cf.Type != f.Type {
			t.Errorf("childCore has no field %s %v", f.Name, f.Type)
			continue
		}
		// A value that is not the zero value, for the copy below.
		v := cv.FieldByName(f.Name)
		switch v.Kind() {
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			v.SetUint(uint64(i + 1))
		case reflect.Int, reflect.Int64:
			v.SetInt(int64(i + 1))
		case reflect.Slice:
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		case reflect.Array:
			v.Index(0).SetUint(uint64(i + 1))
		case reflect.Struct:
			switch f.Type {
			case reflect.TypeFor[Identity]():
				v.Set(reflect.ValueOf(Identity{Type: IDFQDN, Data: []byte("x")}))
			case reflect.TypeFor[EncrAlg]():
				v.Set(reflect.ValueOf(EncrAlg{ID: EncrAESGCM16, KeyBits: 128}))
			default:
				v.Set(reflect.ValueOf(netipAddrForTest(i)))
			}
		default:
			t.Fatalf("field %s: kind %v: teach the test", f.Name, v.Kind())
		}
	}
	if n := core.NumField(); n != pub.NumField()-len(keys) {
		t.Errorf("childCore has %d fields, ChildSA %d less the %d keys", n, pub.NumField(), len(keys))
	}
	k := childKeys{encrIn: []byte{1}, integIn: []byte{2}, encrOut: []byte{3}, integOut: []byte{4}}
	got := reflect.ValueOf(c.public(k))
	for i := range pub.NumField() {
		f := pub.Field(i)
		if keys[f.Name] {
			continue
		}
		if !reflect.DeepEqual(got.Field(i).Interface(), cv.FieldByName(f.Name).Interface()) {
			t.Errorf("public: %s is %v, want %v", f.Name, got.Field(i), cv.FieldByName(f.Name))
		}
	}
	if p := c.public(k); p.EncrKeyIn[0] != 1 || p.IntegKeyIn[0] != 2 || p.EncrKeyOut[0] != 3 || p.IntegKeyOut[0] != 4 {
		t.Errorf("public: keys %v %v %v %v, want each in its place", p.EncrKeyIn, p.IntegKeyIn, p.EncrKeyOut, p.IntegKeyOut)
	}
}

func netipAddrForTest(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }
