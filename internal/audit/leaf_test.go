package audit

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// baseTime is the time of entry 0 in test logs.
var baseTime = time.Date(2026, 3, 1, 10, 3, 0, 0, time.UTC)

// testEntry returns a valid entry with index i whose fields vary with i.
func testEntry(i int64) Entry {
	e := Entry{
		Index:  i,
		Time:   baseTime.Add(time.Duration(i)*time.Second + time.Microsecond),
		Event:  EventVerified,
		JTI:    fmt.Sprintf("0195f2a1b2c3-jti-%04d", i),
		Sub:    "alice@company.com",
		Action: fmt.Sprintf("refund:order:%d", 100+i),
		Aud:    "stripe",
		Caller: "backend",
	}
	switch i % 4 {
	case 1:
		e.Event = EventMinted
	case 2:
		e.Event, e.Reason = EventRejected, ReasonReplay
	case 3:
		e.Evidence = json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))
	}
	return e
}

// testEntries returns a valid log of n entries.
func testEntries(n int) []Entry {
	entries := make([]Entry, n)
	for i := range entries {
		entries[i] = testEntry(int64(i))
	}
	return entries
}

// leafCases are valid entries covering every member and every escape.
var leafCases = []struct {
	name  string
	entry Entry
}{
	{"minimal", Entry{Index: 0, Time: baseTime, Event: EventKeyRotated}},
	{"verified", Entry{
		Index: 17, Time: baseTime.Add(123456 * time.Microsecond),
		Event: EventVerified, JTI: "AZXyobLD-7Qx1wqYk3n0Vg",
		Sub: "alice@company.com", Action: "deploy:prod:api:v2.1.0",
		Aud: "https://api.example.com", Caller: "ci-runner",
	}},
	{"rejected", Entry{
		Index: 18, Time: baseTime, Event: EventRejected,
		JTI: "x", Caller: "gateway", Reason: ReasonBindingMismatch,
	}},
	{"escapes", Entry{
		Index: 19, Time: baseTime, Event: EventCallerAdded,
		Sub:    "quote\" backslash\\ slash/ <tag>&amp;",
		Action: "ctl\x00\x01\b\t\n\v\f\r\x1f\x7f",
		Caller: "café 日本 \u2028\u2029 😀",
	}},
	{"evidence", Entry{
		Index: MaxIndex, Time: time.Date(9999, 12, 31, 23, 59, 59,
			999999000, time.UTC),
		Event:    Event("passkey_asserted"),
		Sub:      "bob",
		Evidence: json.RawMessage(`{"b":[1,2.5e3,"x y"],"a":{"\u00e9":null}}`),
	}},
}

func TestLeafRoundTrip(t *testing.T) {
	for _, tc := range leafCases {
		t.Run(tc.name, func(t *testing.T) {
			leaf, err := tc.entry.MarshalLeaf()
			if err != nil {
				t.Fatalf("MarshalLeaf: %v", err)
			}
			got, err := ParseLeaf(leaf)
			if err != nil {
				t.Fatalf("ParseLeaf(%s): %v", leaf, err)
			}
			if diff := cmp.Diff(tc.entry, got); diff != "" {
				t.Errorf("ParseLeaf(MarshalLeaf(e)) differs (-want +got):\n%s",
					diff)
			}
			if !json.Valid(leaf) {
				t.Errorf("leaf is not valid JSON: %s", leaf)
			}
		})
	}
}

func TestLeafGolden(t *testing.T) {
	var buf bytes.Buffer
	for _, tc := range leafCases {
		leaf, err := tc.entry.MarshalLeaf()
		if err != nil {
			t.Fatalf("%s: MarshalLeaf: %v", tc.name, err)
		}
		hash, err := LeafHash(tc.entry)
		if err != nil {
			t.Fatalf("%s: LeafHash: %v", tc.name, err)
		}
		fmt.Fprintf(&buf, "# %s\n%s\n%s\n", tc.name, leaf, hash)
	}
	compareGolden(t, "leaves.golden", buf.Bytes())
}

// compareGolden compares got with testdata/name, or rewrites the file
// when the test runs with -update.
func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("failed to read golden file (run with -update): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func TestMarshalLeafRejects(t *testing.T) {
	valid := Entry{Index: 1, Time: baseTime, Event: EventMinted}
	tests := []struct {
		name   string
		modify func(*Entry)
		want   string
	}{
		{"negative index", func(e *Entry) { e.Index = -1 }, "index"},
		{"index too large", func(e *Entry) { e.Index = MaxIndex + 1 },
			"index"},
		{"zero time", func(e *Entry) { e.Time = time.Time{} }, "time"},
		{"local time", func(e *Entry) {
			e.Time = e.Time.In(time.FixedZone("CET", 3600))
		}, "UTC"},
		{"nanoseconds", func(e *Entry) { e.Time = e.Time.Add(1) }, "finer"},
		{"year 10000", func(e *Entry) { e.Time = e.Time.AddDate(8000, 0, 0) },
			"range"},
		{"no event", func(e *Entry) { e.Event = "" }, "event"},
		{"upper-case event", func(e *Entry) { e.Event = "Minted" }, "event"},
		{"event with space", func(e *Entry) { e.Event = "a b" }, "event"},
		{"long event", func(e *Entry) {
			e.Event = Event(strings.Repeat("a", 65))
		}, "event"},
		{"bad UTF-8", func(e *Entry) { e.Sub = "a\xffb" }, "sub"},
		{"evidence array", func(e *Entry) {
			e.Evidence = json.RawMessage(`[1]`)
		}, "evidence"},
		{"evidence null", func(e *Entry) {
			e.Evidence = json.RawMessage(`null`)
		}, "evidence"},
		{"evidence invalid", func(e *Entry) {
			e.Evidence = json.RawMessage(`{"a":}`)
		}, "evidence"},
		{"evidence spaced", func(e *Entry) {
			e.Evidence = json.RawMessage(`{"a": 1}`)
		}, "compact"},
		{"evidence bad UTF-8", func(e *Entry) {
			e.Evidence = json.RawMessage("{\"a\":\"\xff\"}")
		}, "evidence"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := valid
			tc.modify(&e)
			_, err := e.MarshalLeaf()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("MarshalLeaf error = %v, want one about %q",
					err, tc.want)
			}
			if _, err := LeafHash(e); err == nil {
				t.Errorf("LeafHash succeeded")
			}
		})
	}
}

func TestParseLeafRejects(t *testing.T) {
	const ok = `{"event":"minted","index":1,` +
		`"time":"2026-03-01T10:03:00.000000Z"}`
	if _, err := ParseLeaf([]byte(ok)); err != nil {
		t.Fatalf("ParseLeaf(%s): %v", ok, err)
	}
	tests := []struct{ name, leaf string }{
		{"empty", ``},
		{"not an object", `[]`},
		{"space", `{"event":"minted", "index":1,` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"trailing newline", ok + "\n"},
		{"trailing data", ok + `{}`},
		{"order", `{"index":1,"event":"minted",` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"duplicate", `{"event":"minted","event":"minted","index":1,` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"unknown member", `{"event":"minted","index":1,"note":"x",` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"case variant", `{"Event":"minted","index":1,` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"empty member", `{"aud":"","event":"minted","index":1,` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"null member", `{"aud":null,"event":"minted","index":1,` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"escaped letter", `{"event":"minte\u0064","index":1,` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"escaped slash", `{"event":"minted","index":1,"sub":"a\/b",` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"upper-case hex", `{"event":"minted","index":1,"sub":"\u001F",` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"long escape", `{"event":"minted","index":1,"sub":"\u000a",` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"html escape", `{"event":"minted","index":1,"sub":"\u003c",` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"bad UTF-8", "{\"event\":\"minted\",\"index\":1,\"sub\":\"\xff\"," +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"no index", `{"event":"minted",` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"index string", `{"event":"minted","index":"1",` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"index leading zero", `{"event":"minted","index":01,` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"index float", `{"event":"minted","index":1.0,` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"index exponent", `{"event":"minted","index":1e0,` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"negative zero", `{"event":"minted","index":-0,` +
			`"time":"2026-03-01T10:03:00.000000Z"}`},
		{"no time", `{"event":"minted","index":1}`},
		{"time seconds", `{"event":"minted","index":1,` +
			`"time":"2026-03-01T10:03:00Z"}`},
		{"time nanoseconds", `{"event":"minted","index":1,` +
			`"time":"2026-03-01T10:03:00.000000000Z"}`},
		{"time offset", `{"event":"minted","index":1,` +
			`"time":"2026-03-01T10:03:00.000000+00:00"}`},
		{"time lower-case", `{"event":"minted","index":1,` +
			`"time":"2026-03-01t10:03:00.000000z"}`},
		{"time out of range", `{"event":"minted","index":1,` +
			`"time":"2026-02-30T10:03:00.000000Z"}`},
		{"evidence spaced", `{"event":"minted","evidence":{"a": 1},` +
			`"index":1,"time":"2026-03-01T10:03:00.000000Z"}`},
		{"evidence empty string", `{"event":"minted","evidence":"",` +
			`"index":1,"time":"2026-03-01T10:03:00.000000Z"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseLeaf([]byte(tc.leaf))
			if err == nil {
				t.Errorf("ParseLeaf(%q) = %+v, want error", tc.leaf, e)
			}
		})
	}
}

func TestEntryJSON(t *testing.T) {
	for _, tc := range leafCases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.entry)
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			var got Entry
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("json.Unmarshal(%s): %v", b, err)
			}
			if diff := cmp.Diff(tc.entry, got); diff != "" {
				t.Errorf("JSON round trip differs (-want +got):\n%s", diff)
			}
		})
	}
	var e Entry
	bad := `{"event":"minted","index":1,"time":"2026-03-01T10:03:00.5Z"}`
	if err := json.Unmarshal([]byte(bad), &e); err == nil {
		t.Errorf("json.Unmarshal(%s) succeeded, want error", bad)
	}
}

func FuzzParseLeaf(f *testing.F) {
	for _, tc := range leafCases {
		leaf, err := tc.entry.MarshalLeaf()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(leaf)
	}
	f.Add([]byte(`{"event":"minted","index":01,` +
		`"time":"2026-03-01T10:03:00.000000Z"}`))
	f.Add([]byte(`{"sub":"\u00e9\ud83d\ude00","event":"x","index":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseLeaf(b)
		if err != nil {
			return
		}
		leaf, err := e.MarshalLeaf()
		if err != nil {
			t.Fatalf("MarshalLeaf(ParseLeaf(%q)): %v", b, err)
		}
		if !bytes.Equal(leaf, b) {
			t.Fatalf("MarshalLeaf(ParseLeaf(b)) = %q, want %q", leaf, b)
		}
		again, err := ParseLeaf(leaf)
		if err != nil {
			t.Fatalf("ParseLeaf(MarshalLeaf(e)): %v", err)
		}
		if diff := cmp.Diff(e, again); diff != "" {
			t.Fatalf("ParseLeaf(MarshalLeaf(e)) differs:\n%s", diff)
		}
	})
}
