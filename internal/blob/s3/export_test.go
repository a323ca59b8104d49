package s3

import "github.com/coffer-mft/coffer/internal/blob"

// PartBuffers returns how many whole part buffers the writer w allocated.
func PartBuffers(w blob.Writer) int {
	ww := w.(*writer)
	ww.mu.Lock()
	defer ww.mu.Unlock()
	return ww.bufs
}

// SetMaxParts lowers S3's limit of 10,000 parts per blob, so that a test can reach it.
func (s *Store) SetMaxParts(n int) { s.maxParts = n }
