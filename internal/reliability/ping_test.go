package reliability

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
)

// pingStats are the echoes of one long ping run and their round trips.
type pingStats struct {
	sent, received int
	rtts           []time.Duration // sorted
}

func (p pingStats) lossPct() float64 {
	if p.sent == 0 {
		return 100
	}
	return 100 * float64(p.sent-p.received) / float64(p.sent)
}

var (
	pingReply   = regexp.MustCompile(`bytes from .* time=([0-9.]+) ms`)
	pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)
)

// pingUntil pings dst from host every interval until ctx ends, then
// interrupts ping so that it prints its summary.
func pingUntil(ctx context.Context, m *lab.Mesh, from string, dst netip.Addr, interval time.Duration) pingStats {
	cmd := m.Hosts[from].Node.Command(context.Background(), "ping", "-n", "-i", fmt.Sprintf("%.3f", interval.Seconds()), "-W", "1", dst.String())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return pingStats{}
	}
	<-ctx.Done()
	// The late echoes: the last ones sent get up to a second to come
	// back, as -W says.
	time.Sleep(time.Second)
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	var p pingStats
	text := out.String()
	for _, mm := range pingReply.FindAllStringSubmatch(text, -1) {
		ms, _ := strconv.ParseFloat(mm[1], 64)
		p.rtts = append(p.rtts, time.Duration(ms*float64(time.Millisecond)))
	}
	if mm := pingSummary.FindStringSubmatch(text); mm != nil {
		p.sent, _ = strconv.Atoi(mm[1])
		p.received, _ = strconv.Atoi(mm[2])
	}
	slices.Sort(p.rtts)
	return p
}

// quantile is the q-quantile of sorted durations (0 if there are none).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i].Round(10 * time.Microsecond)
}
