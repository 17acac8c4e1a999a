package policygroups

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
}

// Empty reports whether the two policies treat every prefix alike.
func (d Diff) Empty() bool { return len(d.Added)+len(d.Removed)+len(d.Changed) == 0 }

// Compare returns what changes from old to new. A prefix whose group stays
// the same but whose source line moved is not a change.
func Compare(old, new *Policy) Diff {
	var d Diff
	var oe, ne []Entry
	if old != nil {
		oe = old.Entries()
	}
	if new != nil {
		ne = new.Entries()
	}
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
