package policygroups

import "slices"

// Change is one prefix whose group changed between two policies.
type Change struct {
	Old, New Entry
}

// Diff is what a reload changes: the data plane updates exactly these traps
// and leaves the others alone.
type Diff struct {
	Added   []Entry
	Removed []Entry
	Changed []Change
	// Exclusions is set when the port exclusions changed (a line moved
	// in the file is not a change); the data plane's are then replaced.
	Exclusions bool
}

// Empty reports whether the two policies treat every prefix and every
// flow alike.
func (d Diff) Empty() bool {
	return len(d.Added)+len(d.Removed)+len(d.Changed) == 0 && !d.Exclusions
}

// sameExclusions reports whether a and b select the same flows in the same
// order, wherever their lines are.
func sameExclusions(a, b []Exclusion) bool {
	return slices.EqualFunc(a, b, func(x, y Exclusion) bool {
		x.Pos = y.Pos
		return x == y
	})
}

// Compare returns what changes from old to new. A prefix whose group stays
// the same but whose source line moved is not a change.
func Compare(old, new *Policy) Diff {
	var d Diff
	var oe, ne []Entry
	var ox, nx []Exclusion
	if old != nil {
		oe, ox = old.Entries(), old.excl
	}
	if new != nil {
		ne, nx = new.Entries(), new.excl
	}
	d.Exclusions = !sameExclusions(ox, nx)
	i, j := 0, 0
	for i < len(oe) || j < len(ne) {
		switch {
		case j == len(ne) || (i < len(oe) && comparePrefix(oe[i].Prefix, ne[j].Prefix) < 0):
			d.Removed = append(d.Removed, oe[i])
			i++
		case i == len(oe) || comparePrefix(oe[i].Prefix, ne[j].Prefix) > 0:
			d.Added = append(d.Added, ne[j])
			j++
		default:
			if oe[i].Group != ne[j].Group {
				d.Changed = append(d.Changed, Change{Old: oe[i], New: ne[j]})
			}
			i++
			j++
		}
	}
	return d
}
