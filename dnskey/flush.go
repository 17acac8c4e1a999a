package dnskey

// Flush forgets what the resolver learnt from DNS (`oemesh dns flush`):
// the cached answers and the remembered failures (RFC 9520) of one name,
// or of all names, so that the next look-up asks the servers again. A
// look-up under way is not cancelled: its answer is cached when it comes.

// Flush forgets the answers and remembered failures of id's name (its
// QueryName: the reverse name of an address, or the FQDN), and returns how
// many (name, type) entries it dropped.
func (r *Resolver) Flush(id ID) (int, error) {
	name, err := id.QueryName()
	if err != nil {
		return 0, err
	}
	name, err = canonicalName(name)
	if err != nil {
		return 0, err
	}
	n := r.cache.remove(func(k string) bool { return k == name })
	n += r.failures.remove(func(k cacheKey) bool { return k.name == name })
	return n, nil
}

// FlushAll forgets every cached answer and remembered failure, and returns
// how many (name, type) entries it dropped.
func (r *Resolver) FlushAll() int {
	n := r.cache.remove(func(string) bool { return true })
	return n + r.failures.remove(func(cacheKey) bool { return true })
}

// remove drops the names that match and returns how many answers they
// held, expired ones included.
func (c *answerCache) remove(match func(name string) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, name := range c.lru.Keys() {
		if !match(name) {
			continue
		}
		all, _ := c.lru.Peek(name)
		for _, a := range all {
			if a != nil {
				n++
			}
		}
		c.lru.Remove(name)
	}
	return n
}

// remove forgets the failures whose query matches and returns how many.
func (f *failureMemory) remove(match func(cacheKey) bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k := range f.m {
		if match(k) {
			delete(f.m, k)
			n++
		}
	}
	return n
}
