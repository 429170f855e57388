package vectors

import (
	"bytes"
	"os"
	"testing"
)

// TestGenerateReproducible: regenerating gives the published file byte for
// byte. After a deliberate change, run go run ./internal/vectors/gen.
func TestGenerateReproducible(t *testing.T) {
	want, err := os.ReadFile("../../testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("testdata/vectors.json differs from what the generator writes: " +
			"run go run ./internal/vectors/gen and review the diff")
	}
	again, _ := Generate()
	if !bytes.Equal(got, again) {
		t.Fatal("two runs of the generator differ")
	}
}
