package files

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// readerOver builds a Reader over plaintext without a store, to test Seeker alone.
func readerOver(b []byte) *Reader {
	return &Reader{Entry: Entry{Size: int64(len(b))}, r: bytes.NewReader(b)}
}

func TestSeeker(t *testing.T) {
	data := make([]byte, 3*ReadAheadSize+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := iotest.TestReader(readerOver(data).Seeker(), data); err != nil {
		t.Fatal(err)
	}
	s := readerOver(data).Seeker()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		off := rng.Int64N(int64(len(data)) + 10)
		if _, err := s.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		p := make([]byte, rng.IntN(3*ReadAheadSize))
		n, err := io.ReadFull(s, p)
		want := data[min(off, int64(len(data))):]
		if len(want) > len(p) {
			want = want[:len(p)]
		}
		if !bytes.Equal(p[:n], want) || (n < len(p) && err == nil) {
			t.Fatalf("at %d: read %d bytes (%v), content matches: %v", off, n, err, bytes.Equal(p[:n], want))
		}
	}
	if _, err := s.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("seek before start accepted")
	}
	if pos, _ := s.Seek(-10, io.SeekEnd); pos != int64(len(data))-10 {
		t.Fatalf("SeekEnd: %d", pos)
	}
}
