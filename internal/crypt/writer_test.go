package crypt

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/coffer-mft/coffer/internal/errs"
)

// TestContinue writes a payload in two sittings, as an interrupted and resumed upload
// does: the first writer stops without Close, the second continues after what the first
// sealed; the result is one ordinary payload, and the digests fed by both add up.
func TestContinue(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	for _, cut := range []int{1, chunkSize, chunkSize + 1, 3*chunkSize - 1, 3 * chunkSize} {
		plain := randomBytes(t, 4*chunkSize+17)
		var first bytes.Buffer
		h := sha256.New()
		header, w, err := kr.Encrypt(&first, h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(plain[:cut]); err != nil {
			t.Fatal(err)
		}
		sealed := w.Sealed()
		// Only chunks with data after them are sealed; the rest of the first sitting is lost.
		if want := int64((cut - 1) / chunkSize * chunkSize); sealed != want {
			t.Fatalf("cut %d: Sealed %d, want %d", cut, sealed, want)
		}
		if got := first.Len(); int64(got) != nonceSize+sealed/chunkSize*encChunkSize {
			t.Fatalf("cut %d: %d payload bytes written for %d sealed", cut, got, sealed)
		}
		state, err := h.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}

		h2 := sha256.New()
		if err := h2.(interface{ UnmarshalBinary([]byte) error }).UnmarshalBinary(state); err != nil {
			t.Fatal(err)
		}
		second := bytes.NewBuffer(append([]byte(nil), first.Bytes()...))
		w2, err := kr.Continue(header, first.Bytes()[:nonceSize], sealed, nil, second, h2)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w2.Write(plain[sealed:]); err != nil {
			t.Fatal(err)
		}
		if err := w2.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := openAll(kr, header, second.Bytes())
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("cut %d: continued payload reads back %d bytes, %v", cut, len(got), err)
		}
		if want := sha256.Sum256(plain); !bytes.Equal(h2.Sum(nil), want[:]) {
			t.Fatalf("cut %d: the digest fed by both writers is not the plaintext's", cut)
		}
	}
}

func TestContinueRefusals(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	var buf bytes.Buffer
	header, w, err := kr.Encrypt(&buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(randomBytes(t, 2*chunkSize+1))
	nonce := buf.Bytes()[:nonceSize]
	if _, err := kr.Continue(header, nonce, chunkSize+1, nil, &buf, nil); !errs.Is(errs.Invalid, err) {
		t.Errorf("continue off a chunk boundary: %v, want Invalid", err)
	}
	if _, err := kr.Continue(header, nonce[:5], chunkSize, nil, &buf, nil); !errs.Is(errs.Invalid, err) {
		t.Errorf("short nonce: %v, want Invalid", err)
	}
	other := mustParse(t, testKeyB)
	if _, err := other.Continue(header, nonce, chunkSize, nil, &buf, nil); !errs.Is(errs.NotFound, err) {
		t.Errorf("keyring without the file's KEK: %v, want NotFound", err)
	}
	// Continuing with nothing more cannot finish: the last chunk written was sealed as
	// not the last.
	w2, err := kr.Continue(header, nonce, 2*chunkSize, nil, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); !errs.Is(errs.Integrity, err) {
		t.Errorf("Close with no data after a continue: %v, want Integrity", err)
	}
}

// TestContinueWithTail keeps every byte of an interrupted sitting: the sealed chunks in
// the payload and the rest as a sealed tail, which the next sitting starts with.
func TestContinueWithTail(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	for _, cut := range []int{1, chunkSize - 1, chunkSize, chunkSize + 1, 2 * chunkSize, 3*chunkSize + 9} {
		plain := randomBytes(t, 3*chunkSize+10)
		var first bytes.Buffer
		h := sha256.New()
		header, w, err := kr.Encrypt(&first, h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(plain[:cut])
		sealed, tail := w.Sealed(), w.SealTail()
		if sealed+int64(w.Pending()) != int64(cut) {
			t.Fatalf("cut %d: sealed %d + pending %d", cut, sealed, w.Pending())
		}
		state, _ := h.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
		h2 := sha256.New()
		h2.(interface{ UnmarshalBinary([]byte) error }).UnmarshalBinary(state)
		second := bytes.NewBuffer(append([]byte(nil), first.Bytes()...))
		nonce := first.Bytes()[:nonceSize]

		// A tail is bound to its place: at another chunk index it does not open.
		if sealed > 0 {
			if _, err := kr.Continue(header, nonce, sealed-chunkSize, tail, &bytes.Buffer{}, nil); !errs.Is(errs.Integrity, err) {
				t.Errorf("cut %d: a tail continued at the wrong chunk: %v, want Integrity", cut, err)
			}
		}
		bad := bytes.Clone(tail)
		bad[len(bad)-1] ^= 1
		if _, err := kr.Continue(header, nonce, sealed, bad, &bytes.Buffer{}, nil); !errs.Is(errs.Integrity, err) {
			t.Errorf("cut %d: an altered tail: %v, want Integrity", cut, err)
		}

		w2, err := kr.Continue(header, nonce, sealed, tail, second, h2)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w2.Write(plain[cut:]); err != nil {
			t.Fatal(err)
		}
		if err := w2.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := openAll(kr, header, second.Bytes())
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("cut %d: reads back %d bytes, %v", cut, len(got), err)
		}
		if want := sha256.Sum256(plain); !bytes.Equal(h2.Sum(nil), want[:]) {
			t.Fatalf("cut %d: digest differs", cut)
		}
	}
}
