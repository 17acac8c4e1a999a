package userspace

// A Go map keeps the buckets of the most entries it held: a burst of
// 10,000 peers of which 100 stay would hold 10,000 pairs' buckets for
// good. The device's pair map is re-made at its size once it falls to
// shrinkFactor below a peak of at least shrinkMin; the copy costs one
// entry per shrinkFactor-1 deletes before it.
const (
	shrinkMin    = 1024
	shrinkFactor = 8
)

// shrunk returns m, or a copy made at its size when it has fallen far
// below peak, and the peak that goes with what it returns.
func shrunk[K comparable, V any](m map[K]V, peak int) (map[K]V, int) {
	peak = max(peak, len(m))
	if peak < shrinkMin || len(m) > peak/shrinkFactor {
		return m, peak
	}
	n := make(map[K]V, len(m))
	for k, v := range m {
		n[k] = v
	}
	return n, len(n)
}
