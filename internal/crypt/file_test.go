package crypt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
	"github.com/coffer-mft/coffer/internal/errs"
)

const encChunk = chunkSize + tagSize

// TestRoundTrip writes and reads files of both payload ciphers: version 2, which new files
// use, and version 1, which files written before it use.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	for _, s := range []suite{suiteAES, suiteChaCha} {
		for _, size := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 1<<20 + 3} {
			t.Run(fmt.Sprint(s.stanzaType(), "/", size), func(t *testing.T) {
				t.Parallel()
				roundTrip(t, kr, s, size)
			})
		}
	}
}

func roundTrip(t *testing.T, kr *Keyring, s suite, size int) {
	plain := randomBytes(t, size)
	header, payload := encryptSuite(t, kr, plain, s)
	if got, want := int64(len(payload)), PayloadSize(int64(size)); got != want {
		t.Errorf("payload is %d bytes, PayloadSize(%d) = %d", got, size, want)
	}
	if !bytes.HasPrefix(header, []byte("age-encryption.org/v1\n-> "+s.stanzaType()+" 0123abcd\n")) {
		t.Errorf("header does not start with the intro and our stanza:\n%s", header)
	}

	r, n, err := kr.Open(header, bytes.NewReader(payload), int64(len(payload)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if n != int64(size) {
		t.Fatalf("Open says %d bytes of plaintext, want %d", n, size)
	}
	got, err := io.ReadAll(io.NewSectionReader(r, 0, n))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("sequential read: %d bytes, err %v; plaintext differs: %v", len(got), err, !bytes.Equal(got, plain))
	}

	rng := rand.New(rand.NewPCG(uint64(size), 1))
	for range 200 {
		off := rng.Int64N(int64(size) + 2)
		length := rng.IntN(3*chunkSize + 2)
		checkReadAt(t, r, plain, off, length)
	}
	// Reads at and past the end behave like bytes.Reader's.
	checkReadAt(t, r, plain, int64(size), 10)
	checkReadAt(t, r, plain, int64(size)+100, 10)
}

// checkReadAt checks one ReadAt against the io.ReaderAt contract and the plaintext.
func checkReadAt(t *testing.T, r io.ReaderAt, plain []byte, off int64, length int) {
	t.Helper()
	buf := make([]byte, length)
	n, err := r.ReadAt(buf, off)
	var want []byte
	if off < int64(len(plain)) {
		want = plain[off:min(int(off)+length, len(plain))]
	}
	if !bytes.Equal(buf[:n], want) {
		t.Fatalf("ReadAt(%d bytes, off %d) returned %d bytes that differ from the plaintext", length, off, n)
	}
	switch {
	case n < length && err != io.EOF:
		t.Fatalf("ReadAt(%d bytes, off %d) = %d, %v; want io.EOF for a short read", length, off, n, err)
	case n == length && err != nil && err != io.EOF:
		t.Fatalf("ReadAt(%d bytes, off %d) = %d, %v", length, off, n, err)
	}
}

func TestConcurrentReadAt(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	plain := randomBytes(t, 5*chunkSize+77)
	header, payload := encrypt(t, kr, plain)
	r, _, err := kr.Open(header, bytes.NewReader(payload), int64(len(payload)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			for range 100 {
				off := rng.Int64N(int64(len(plain)))
				buf := make([]byte, rng.IntN(2*chunkSize)+1)
				n, err := r.ReadAt(buf, off)
				if err != nil && err != io.EOF || !bytes.Equal(buf[:n], plain[off:off+int64(n)]) {
					t.Errorf("concurrent ReadAt at %d: %d bytes, %v, or wrong bytes", off, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestStandardAgeFile checks the claim of docs/format.md that header || payload of a
// version 1 file is an ordinary age file.
func TestStandardAgeFile(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	for _, n := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 2 * chunkSize, 3*chunkSize + 5} {
		plain := randomBytes(t, n)
		header, payload := encryptSuite(t, kr, plain, suiteChaCha)
		if int64(len(payload)) != PayloadSize(int64(n)) {
			t.Errorf("%d bytes: payload of %d bytes, PayloadSize says %d", n, len(payload), PayloadSize(int64(n)))
		}
		r, err := age.Decrypt(io.MultiReader(bytes.NewReader(header), bytes.NewReader(payload)), identity{kr: kr})
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: age.Decrypt: %v, plaintext equal: %v", n, err, bytes.Equal(got, plain))
		}
	}
}

func TestOpenWrongKey(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	header, payload := encrypt(t, kr, []byte("secret"))
	other, err := NewKeyring()
	if err != nil {
		t.Fatal(err)
	}

	_, err = openAll(other, header, payload)
	wantKind(t, err, errs.NotFound)
	if !strings.Contains(err.Error(), "0123abcd") {
		t.Errorf("error %q does not name the missing key id 0123abcd", err)
	}

	// Another key under the same id: the wrapped key does not open.
	_, err = openAll(mustParse(t, testKeyA2), header, payload)
	wantKind(t, err, errs.Integrity)
	if !strings.Contains(err.Error(), "0123abcd") {
		t.Errorf("error %q does not name the key id", err)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	old := mustParse(t, testKeyA)
	plain := []byte("written before rotation")
	header, payload := encrypt(t, old, plain)

	rotated := mustParse(t, testKeyB+"\n"+testKeyA)
	if got := rotated.PrimaryID(); got != "89abcdef" {
		t.Fatalf("PrimaryID = %q, want the first line's id 89abcdef", got)
	}
	if got, err := openAll(rotated, header, payload); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("the second key does not open an old file: %v", err)
	}

	header2, payload2 := encrypt(t, rotated, plain)
	if !bytes.Contains(header2, []byte("-> coffer-kek2 89abcdef\n")) {
		t.Fatalf("a new file is not wrapped to the new primary:\n%s", header2)
	}
	_, err := openAll(old, header2, payload2)
	wantKind(t, err, errs.NotFound)
	if !strings.Contains(err.Error(), "89abcdef") {
		t.Errorf("error %q does not name the missing key id", err)
	}
}

func TestTamper(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	plain := randomBytes(t, 2*chunkSize+100) // three chunks, the last short
	header, payload := encrypt(t, kr, plain)
	otherHeader, otherPayload := encrypt(t, kr, plain) // same plaintext, another file key

	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 0x01
		return b
	}
	chunk := func(i int) []byte { return payload[nonceSize+i*encChunk : nonceSize+(i+1)*encChunk] }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	idAt := bytes.Index(header, []byte("0123abcd"))
	bodyAt := bytes.IndexByte(header[idAt:], '\n') + idAt + 1
	macAt := bytes.Index(header, []byte("\n--- ")) + 5

	tests := []struct {
		name            string
		header, payload []byte
		kinds           []errs.Kind
	}{
		{"header intro", flip(header, 0), payload, []errs.Kind{errs.Integrity}},
		{"header key id", flip(header, idAt), payload, []errs.Kind{errs.NotFound}},
		{"header body start", flip(header, bodyAt), payload, []errs.Kind{errs.Integrity}},
		{"header body end", flip(header, macAt-8), payload, []errs.Kind{errs.Integrity}},
		{"header mac", flip(header, macAt+3), payload, []errs.Kind{errs.Integrity}},
		{"header final newline", header[:len(header)-1], payload, []errs.Kind{errs.Integrity}},
		{"header extra byte", cat(header, []byte("x")), payload, []errs.Kind{errs.Integrity}},
		{"header of another file", otherHeader, payload, []errs.Kind{errs.Integrity}},
		{"payload of another file", header, otherPayload, []errs.Kind{errs.Integrity}},
		{"payload nonce", header, flip(payload, 3), []errs.Kind{errs.Integrity}},
		{"payload first chunk", header, flip(payload, nonceSize+10), []errs.Kind{errs.Integrity}},
		{"payload middle chunk", header, flip(payload, nonceSize+encChunk+500), []errs.Kind{errs.Integrity}},
		{"payload first tag", header, flip(payload, nonceSize+encChunk-1), []errs.Kind{errs.Integrity}},
		{"payload last byte", header, flip(payload, len(payload)-1), []errs.Kind{errs.Integrity}},
		{"truncated by 1 byte", header, payload[:len(payload)-1], []errs.Kind{errs.Integrity}},
		{"truncated by a chunk's length", header, payload[:len(payload)-encChunk], []errs.Kind{errs.Integrity}},
		{"last chunk dropped", header, payload[:nonceSize+2*encChunk], []errs.Kind{errs.Integrity}},
		{"nonce only", header, payload[:nonceSize], []errs.Kind{errs.Integrity}},
		{"empty payload", header, nil, []errs.Kind{errs.Integrity}},
		{"chunks 0 and 1 swapped", header, cat(payload[:nonceSize], chunk(1), chunk(0), payload[nonceSize+2*encChunk:]), []errs.Kind{errs.Integrity}},
		{"chunk 0 repeated", header, cat(payload[:nonceSize], chunk(0), chunk(0), payload[nonceSize+2*encChunk:]), []errs.Kind{errs.Integrity}},
		{"1 byte appended", header, cat(payload, []byte{0}), []errs.Kind{errs.Integrity}},
		{"16 bytes appended", header, cat(payload, make([]byte, 16)), []errs.Kind{errs.Integrity}},
		{"a chunk appended", header, cat(payload, chunk(0)), []errs.Kind{errs.Integrity}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := openAll(kr, tt.header, tt.payload)
			wantKind(t, err, tt.kinds...)
			if !bytes.HasPrefix(plain, got) {
				t.Fatalf("returned %d bytes that are not the plaintext", len(got))
			}
		})
	}
}

func TestHeaderWithoutOurStanza(t *testing.T) {
	t.Parallel()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	w, err := age.Encrypt(&file, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "not for coffer")
	w.Close()
	header, err := age.ExtractHeader(bytes.NewReader(file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = openAll(mustParse(t, testKeyA), header, file.Bytes()[len(header):])
	wantKind(t, err, errs.Integrity)
	if !strings.Contains(err.Error(), "coffer-kek") {
		t.Errorf("error %q does not say the coffer-kek stanza is missing", err)
	}
}

func TestUnwrap(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	stanzas, err := recipient{k: kr.keys[0], suite: writeSuite}.Wrap(make([]byte, fileKeySize))
	if err != nil {
		t.Fatal(err)
	}
	good := stanzas[0]
	withBody := func(b []byte) *age.Stanza { return &age.Stanza{Type: good.Type, Args: good.Args, Body: b} }

	tests := []struct {
		name      string
		stanza    *age.Stanza
		incorrect bool // want age.ErrIncorrectIdentity
	}{
		{"another type", &age.Stanza{Type: "X25519", Args: []string{"abc"}, Body: good.Body}, true},
		{"another key id", &age.Stanza{Type: stanzaV2, Args: []string{"ffffffff"}, Body: good.Body}, true},
		{"no key id", &age.Stanza{Type: stanzaV2, Body: good.Body}, false},
		{"short body", withBody(good.Body[:wrappedSize-1]), false},
		{"long body", withBody(append(bytes.Clone(good.Body), 0)), false},
		{"altered body", withBody(append(bytes.Clone(good.Body[:wrappedSize-1]), good.Body[wrappedSize-1]^1)), false},
		{"altered nonce", withBody(append([]byte{good.Body[0] ^ 1}, good.Body[1:]...)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, err := identity{kr: kr}.Unwrap([]*age.Stanza{tt.stanza})
			if err == nil || key != nil {
				t.Fatalf("Unwrap = %x, %v; want an error", key, err)
			}
			if got := errors.Is(err, age.ErrIncorrectIdentity); got != tt.incorrect {
				t.Fatalf("Unwrap error %q: errors.Is(err, age.ErrIncorrectIdentity) = %v, want %v", err, got, tt.incorrect)
			}
		})
	}

	// Stanzas that are not ours are skipped on the way to ours.
	key, err := identity{kr: kr}.Unwrap([]*age.Stanza{tests[0].stanza, tests[1].stanza, good})
	if err != nil || !bytes.Equal(key, make([]byte, fileKeySize)) {
		t.Fatalf("Unwrap past foreign stanzas = %x, %v", key, err)
	}
}

func TestPayloadSize(t *testing.T) {
	t.Parallel()
	tests := []struct{ n, want int64 }{
		{0, 32},
		{1, 33},
		{chunkSize - 1, nonceSize + chunkSize - 1 + tagSize},
		{chunkSize, nonceSize + chunkSize + tagSize},
		{chunkSize + 1, nonceSize + chunkSize + 1 + 2*tagSize},
		{10 * chunkSize, nonceSize + 10*chunkSize + 10*tagSize},
		{-1, -1},
		{1 << 62, nonceSize + 1<<62 + (1<<62/chunkSize)*tagSize},
		{1<<63 - 1, -1},
	}
	for _, tt := range tests {
		if got := PayloadSize(tt.n); got != tt.want {
			t.Errorf("PayloadSize(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

// failingReaderAt fails every read after the first ok reads with err.
type failingReaderAt struct {
	r   io.ReaderAt
	ok  int
	err error
	mu  sync.Mutex
}

func (f *failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ok == 0 {
		return 0, f.err
	}
	f.ok--
	return f.r.ReadAt(p, off)
}

// TestStorageErrors checks that a failure of the blob store keeps its Kind, and is not
// reported as tampering.
func TestStorageErrors(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	plain := randomBytes(t, 3*chunkSize)
	header, payload := encrypt(t, kr, plain)
	down := errs.E(errs.Op("blob.ReadAt"), errs.Unavailable, "bucket unreachable")

	for ok := range 2 { // 0: fails during the header parse, 1: on the final chunk
		_, _, err := kr.Open(header, &failingReaderAt{r: bytes.NewReader(payload), ok: ok, err: down}, int64(len(payload)))
		wantKind(t, err, errs.Unavailable)
	}

	src := &failingReaderAt{r: bytes.NewReader(payload), ok: 2, err: down}
	r, _, err := kr.Open(header, src, int64(len(payload)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.ReadAt(make([]byte, 10), 0)
	wantKind(t, err, errs.Unavailable)
	if !strings.Contains(err.Error(), "bucket unreachable") {
		t.Errorf("error %q lost the storage error's message", err)
	}

	// A payload shorter than its stated size was truncated: that is Integrity.
	_, _, err = kr.Open(header, bytes.NewReader(payload[:len(payload)-5]), int64(len(payload)))
	wantKind(t, err, errs.Integrity)

	_, _, err = kr.Open(header, bytes.NewReader(payload), -1)
	wantKind(t, err, errs.Invalid)
}

type failingWriter struct{ after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after < len(p) {
		return 0, errs.E(errs.Op("blob.Write"), errs.NoSpace, "disk full")
	}
	f.after -= len(p)
	return len(p), nil
}

func TestEncryptWriteErrors(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)

	_, _, err := kr.Encrypt(&failingWriter{after: 0}, nil) // fails on the nonce
	wantKind(t, err, errs.NoSpace)

	_, w, err := kr.Encrypt(&failingWriter{after: nonceSize}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Write(make([]byte, 2*chunkSize))
	wantKind(t, err, errs.NoSpace)
	wantKind(t, w.Close(), errs.NoSpace)

	_, _, err = (&Keyring{}).Encrypt(io.Discard, nil)
	wantKind(t, err, errs.Invalid)
}

// TestNoExtraWrites checks that Encrypt passes whole sealed chunks to dst, one Write each,
// rather than splitting or copying them.
func TestNoExtraWrites(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	var sizes []int
	dst := writerFunc(func(p []byte) (int, error) { sizes = append(sizes, len(p)); return len(p), nil })
	_, w, err := kr.Encrypt(dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]byte, 3*chunkSize+1))
	w.Close()
	want := []int{nonceSize, encChunk, encChunk, encChunk, 1 + tagSize}
	if fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Fatalf("writes to dst: %v, want %v", sizes, want)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
