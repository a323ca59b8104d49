package crypt

import (
	"bytes"
	"encoding/base64"
	"os"
	"testing"

	"filippo.io/age"
	"github.com/coffer-mft/coffer/internal/errs"
)

// TestVersion1File opens a file that version 1 wrote (ChaCha20-Poly1305 payload, kept in
// testdata since before version 2): a reader for every version ever written is kept.
func TestVersion1File(t *testing.T) {
	t.Parallel()
	header, err := os.ReadFile("testdata/v1-header.age")
	if err != nil {
		t.Fatal(err)
	}
	b64, err := os.ReadFile("testdata/v1-payload.b64")
	if err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(string(b64))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, chunkSize+100)
	for i := range want {
		want[i] = byte(i*7 + 3)
	}
	kr := mustParse(t, testKeyA)
	if _, s, err := kr.unwrap(header); err != nil || s != suiteChaCha {
		t.Fatalf("unwrap: suite %d, %v; want version 1", s, err)
	}
	got, err := openAll(kr, header, payload)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the version 1 file: %v, plaintext equal %v", err, bytes.Equal(got, want))
	}
	// Continuing a version 1 payload (a partial upload from before version 2) seals its
	// new chunks with version 1's cipher.
	var out bytes.Buffer
	out.Write(payload[:SealedPayloadSize(chunkSize)])
	w, err := kr.Continue(header, payload[:nonceSize], chunkSize, nil, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(want[chunkSize:]); err != nil || w.Close() != nil {
		t.Fatalf("continue: %v", err)
	}
	if got, err := openAll(kr, header, out.Bytes()); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the continued version 1 file: %v, plaintext equal %v", err, bytes.Equal(got, want))
	}
}

// TestSuiteBinding checks that a file key wrapped for one payload cipher does not unwrap
// under the other's stanza type: a header cannot be relabelled to make a reader open the
// payload with the wrong cipher.
func TestSuiteBinding(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	for _, s := range []suite{suiteChaCha, suiteAES} {
		stanzas, err := recipient{k: kr.keys[0], suite: s}.Wrap(make([]byte, fileKeySize))
		if err != nil {
			t.Fatal(err)
		}
		relabelled := *stanzas[0]
		relabelled.Type = map[suite]string{suiteChaCha: stanzaV2, suiteAES: stanzaV1}[s]
		if _, err := (identity{kr: kr}).Unwrap([]*age.Stanza{&relabelled}); err == nil {
			t.Errorf("a %s stanza relabelled %s unwrapped", stanzas[0].Type, relabelled.Type)
		}
	}
	// The same payload read with the other cipher fails authentication.
	header, payload := encrypt(t, kr, []byte("version 2"))
	v1Header, _ := encryptSuite(t, kr, []byte("version 1"), suiteChaCha)
	_, err := openAll(kr, v1Header, payload)
	wantKind(t, err, errs.Integrity)
	if got, err := openAll(kr, header, payload); err != nil || string(got) != "version 2" {
		t.Fatalf("the version 2 file: %q, %v", got, err)
	}
}
