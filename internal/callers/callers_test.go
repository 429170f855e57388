package callers

import (
	"strings"
	"testing"
)

func TestNewKey(t *testing.T) {
	k1, h1, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _, _ := NewKey()
	if k1 == k2 {
		t.Fatal("two keys are equal")
	}
	if !strings.HasPrefix(k1, "am_") || len(k1) != KeyLen || !WellFormedKey(k1) {
		t.Fatalf("key %q is not well formed", k1)
	}
	if !h1.Equal(HashKey(k1)) || h1.Equal(HashKey(k2)) {
		t.Fatal("hash does not identify the key")
	}
}

func TestWellFormedKey(t *testing.T) {
	good := "am_" + strings.Repeat("A", 43)
	for _, k := range []string{"", "am_", good + "A", good[:len(good)-1],
		"xx_" + strings.Repeat("A", 43), "am_" + strings.Repeat("A", 42) + "=",
		"am_" + strings.Repeat("A", 42) + "\n"} {
		if WellFormedKey(k) {
			t.Errorf("WellFormedKey(%q) = true", k)
		}
	}
	if !WellFormedKey(good) {
		t.Errorf("WellFormedKey(%q) = false", good)
	}
}

func TestParseBearer(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"Bearer am_abc", "am_abc", true},
		{"bearer am_abc", "am_abc", true},
		{"BEARER   am_abc", "am_abc", true},
		{"Bearer abc==", "abc==", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Beareram_abc", "", false},
		{"Basic YWxhZGRpbjpvcGVuc2VzYW1l", "", false},
		{"Bearer am_abc def", "", false},
		{"Bearer am_abc\t", "", false},
		{"Bearer =abc", "", false},
		{"Bearer ab=c", "", false},
		{"Bearer am_ab\x00c", "", false},
		{" Bearer am_abc", "", false},
	} {
		got, ok := ParseBearer(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseBearer(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer am_abc", "bearer  x==", "Basic x", "Bearer", "Bearer =", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		cred, ok := ParseBearer(v)
		if !ok {
			if cred != "" {
				t.Fatalf("refused %q but returned %q", v, cred)
			}
			return
		}
		if cred == "" || !strings.HasSuffix(v, cred) || strings.ContainsAny(cred, " \t\r\n") {
			t.Fatalf("ParseBearer(%q) = %q", v, cred)
		}
		if WellFormedKey(cred) && HashKey(cred) != HashKey(cred) {
			t.Fatal("hash is not deterministic")
		}
	})
}

func TestValidateName(t *testing.T) {
	for _, n := range []string{"ci", "billing-service", "a.b_c@d", strings.Repeat("x", 64)} {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q): %v", n, err)
		}
	}
	for _, n := range []string{"", strings.Repeat("x", 65), "a b", "a\nb", "é", "a/b"} {
		if ValidateName(n) == nil {
			t.Errorf("ValidateName(%q) accepted", n)
		}
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range []string{"minter", "verifier", "auditor"} {
		if got, err := ParseRole(r); err != nil || string(got) != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	for _, r := range []string{"", "Minter", "admin"} {
		if _, err := ParseRole(r); err == nil {
			t.Errorf("ParseRole(%q) accepted", r)
		}
	}
}
