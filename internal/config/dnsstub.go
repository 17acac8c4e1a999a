package config

import "fmt"

// checkHold refuses a hold with nothing to wait for: the stub holds an
// answer for the negotiations its prestart starts.
func (d DNS) checkHold() error {
	if d.StubHold > 0 && !d.Prestart {
		return fmt.Errorf("dns.stub.hold %v needs dns.prestart: true (the hold waits for the prestarted negotiations); set dns.stub.hold: 0s or dns.prestart: true", d.StubHold)
	}
	return nil
}
