package sftpd

// bufferPool hands out byte buffers in a few size classes and keeps a bounded number of
// returned ones for reuse, shared by all sessions. Reuse is what keeps the transfer path
// free of large allocations: each fresh buffer over 32 KiB is a large object that the
// runtime zeroes, the collector frees and the scavenger returns to the kernel, only for
// the next one to fault its pages in again. The bound is on what is kept idle (at most
// the sum of keep × size below, about 17 MiB); what is in use is bounded by each
// session's own limits (request budget, read-ahead, upload queue).
//
// A buffer must be given back at most once, by its one owner: two owners of one buffer
// would be one session's data in another's transfer.
type bufferPool struct {
	classes []poolClass
}

type poolClass struct {
	size int
	free chan []byte
}

// Size classes: requests and small responses; one write or read of maxWriteLength with
// its header; the longest packet; a read-ahead block.
var poolClasses = [...]struct{ size, keep int }{
	{4 << 10, 256},
	{maxWriteLength + 1024, 64},
	{maxPacketLength + 1024, 16},
	{readBlockSize, 16},
}

func newBufferPool() *bufferPool {
	p := &bufferPool{}
	for _, c := range poolClasses {
		p.classes = append(p.classes, poolClass{size: c.size, free: make(chan []byte, c.keep)})
	}
	return p
}

// get returns a buffer of length n (its contents are not zeroed). n must not exceed the
// largest class.
func (p *bufferPool) get(n int) []byte {
	for i := range p.classes {
		c := &p.classes[i]
		if n <= c.size {
			select {
			case b := <-c.free:
				return b[:n]
			default:
				return make([]byte, n, c.size)
			}
		}
	}
	panic("sftpd: buffer larger than any pool class") // a bug: callers bound n
}

// put gives b back. Buffers of a size no class has are left to the collector.
func (p *bufferPool) put(b []byte) {
	for i := range p.classes {
		c := &p.classes[i]
		if cap(b) == c.size {
			select {
			case c.free <- b[:0]:
			default:
			}
			return
		}
	}
}
