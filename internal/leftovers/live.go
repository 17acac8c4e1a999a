package leftovers

import (
	"os"
	"strconv"
)

// LivePIDs returns a Live func for Scanner and SweepDead from the processes
// running now. Lab names carry the pid modulo 100,000 (to keep interface
// and namespace names short), so a pid below 100,000 also counts as alive
// when any running pid has it as its remainder: a run is spared rather than
// swept by mistake.
func LivePIDs(proc string) func(pid int) bool {
	if proc == "" {
		proc = "/proc"
	}
	full, mod := map[int]bool{}, map[int]bool{}
	entries, _ := os.ReadDir(proc)
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			full[pid], mod[pid%100000] = true, true
		}
	}
	return func(pid int) bool { return full[pid] || (pid < 100000 && mod[pid]) }
}
