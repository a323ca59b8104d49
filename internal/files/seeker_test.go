package files

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
	"time"
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

// offsetsAsked is a ReaderAt over b that reports the offset of every read on asked.
type offsetsAsked struct {
	b     []byte
	asked chan int64
}

func (o offsetsAsked) ReadAt(p []byte, off int64) (int, error) {
	o.asked <- off
	return bytes.NewReader(o.b).ReadAt(p, off)
}

// Once a reader moves on from one block to the next, the block after that is read
// before it is asked for, and counted as read only when it is served.
func TestSeekerReadsAhead(t *testing.T) {
	data := make([]byte, 4*ReadAheadSize)
	src := offsetsAsked{b: data, asked: make(chan int64, 8)}
	r := &Reader{Entry: Entry{Size: int64(len(data))}, r: src}
	s := r.Seeker()
	p := make([]byte, ReadAheadSize+1) // the whole first block and one byte of the second
	if _, err := io.ReadFull(s, p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int64{0, ReadAheadSize, 2 * ReadAheadSize} {
		select {
		case got := <-src.asked:
			if got != want {
				t.Fatalf("read at %d, want %d", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no read at %d", want)
		}
	}
	s.Close()
	if n := r.n.Load(); n != 2*ReadAheadSize {
		t.Errorf("%d bytes counted as read, want the two blocks served (%d)", n, 2*ReadAheadSize)
	}
}
