package userspace

import "time"

// freeTrimEvery is how often the TUN reader's spare batches go back to the
// buffer pool. The reader keeps batches it has finished with for the next
// read (up to 4×encQ+2 of them, TUN batch size × 9 KiB each: over 1 MiB a
// batch with offloads), so without trimming the heap would stay at the
// largest burst the device ever carried: a churn of peers left the
// daemon's live heap 20-30 % higher for good (TestChurn's long form). In
// the pool, buffers the next burst does not take are collected.
const freeTrimEvery = 10 * time.Second

// trimFreeEvery empties free into the buffer pool every freeTrimEvery
// until the device closes.
func (d *Device) trimFreeEvery(free chan *outBatch) {
	var arm func()
	arm = func() {
		d.clock.AfterFunc(freeTrimEvery, func() {
			if d.closed() != nil {
				return
			}
			trimFree(free, d.pools)
			arm()
		})
	}
	arm()
}

// trimFree returns every batch waiting in free to p, buffers and all, and
// says how many there were. The reader makes a new batch when free is
// empty, so this only costs the next burst an allocation of slices.
func trimFree(free chan *outBatch, p *pools) int {
	n := 0
	for {
		select {
		case b := <-free:
			for i := range b.elems {
				p.put(b.elems[i].buf)
				b.elems[i].buf = nil
			}
			n++
		default:
			return n
		}
	}
}

// TrimIdle returns the TUN reader's spare batches to the buffer pool now,
// as the timer does every freeTrimEvery, and says how many there were.
// oemeshd calls it before a collection asked for on the control socket
// (GET /v1/memory?gc=1), so that the live heap it reports does not swing
// by a batch (over 1 MiB with offloads) with when the timer last ran.
func (d *Device) TrimIdle() int { return trimFree(d.outFree, d.pools) }
