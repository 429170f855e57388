package httpapi

import (
	"net/http/httptest"
	"strconv"
	"testing"
)

// FuzzAuditQuery feeds query strings to the parsers of GET /audit and
// the entry index: they answer a filter or a 400, and never panic.
func FuzzAuditQuery(f *testing.F) {
	for _, q := range []string{
		"", "limit=5", "sub=alice%40company.com&action=deploy:prod",
		"event=rejected&since=2026-03-01T10:03:00Z&until=2026-03-02T00:00:00%2B02:00",
		"cursor=42", "limit=1&limit=2", "colour=red", "%zz", "since=99999-01-01T00:00:00Z",
	} {
		f.Add(q, "17")
	}
	f.Fuzz(func(t *testing.T, query, index string) {
		r := httptest.NewRequest("GET", "/audit", nil)
		r.URL.RawQuery = query
		q, err := parseQuery(r, "sub", "action", "event", "since", "until",
			"limit", "cursor")
		if err == nil {
			fl, err := auditFilter(q)
			if err == nil && (fl.Limit < 1 || fl.Limit > maxPage || fl.Before < 0) {
				t.Fatalf("auditFilter(%q) = %+v", query, fl)
			}
		}
		if err != nil && problemFor(err).Status != 400 {
			t.Fatalf("query %q: %v is not a 400", query, err)
		}
		n, err := parseIndex(index)
		if err == nil && strconv.FormatInt(n, 10) != index {
			t.Fatalf("parseIndex(%q) = %d", index, n)
		}
	})
}
