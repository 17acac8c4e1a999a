package policygroups

import (
	"fmt"
	"strings"
)

// Position is a place in a policy file.
type Position struct {
	File string
	Line int
}

// String is FILE:LINE, or FILE alone for what concerns a whole file.
func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// LineError is one problem with one line of a policy file. Its text is
// `FILE:LINE: message`, the form `oemesh policy check` prints.
type LineError struct {
	Pos   Position
	Value string // the offending token, as written
	Msg   string
}

func (e *LineError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %q: %s", e.Pos, e.Value, e.Msg)
}

// Errors is every problem found while loading a policy directory.
type Errors []*LineError

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}
