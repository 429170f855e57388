package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/token"
	"golang.org/x/mod/sumdb/tlog"
)

// AuditLog is the audit tree as the API serves it: checkpoints, proofs
// and the entries in index order.
type AuditLog interface {
	// Latest returns the latest signed checkpoint, or ledger.ErrNotFound.
	Latest(ctx context.Context) (ledger.StoredCheckpoint, audit.Checkpoint,
		error)
	// Proof returns an entry with its proof against the latest
	// checkpoint, or ledger.ErrNotFound if that does not cover it.
	Proof(ctx context.Context, index int64) (audit.ExportLine,
		ledger.StoredCheckpoint, error)
	// Consistency proves the tree of size from a prefix of that of size
	// to, or returns ledger.ErrNotFound if to is past the tree.
	Consistency(ctx context.Context, from, to int64) (tlog.TreeProof, error)
	// Checkpoints returns up to limit checkpoints larger than after.
	Checkpoints(ctx context.Context, after int64, limit int) (
		[]ledger.StoredCheckpoint, error)
	// Entries returns up to limit entries from index from on.
	Entries(ctx context.Context, from int64, limit int) ([]audit.Entry,
		error)
	// VerifierKey returns the public checkpoint key in note form.
	VerifierKey() string
}

// AuditEvent is one line of GET /audit when the event filter is given:
// every field of the entry.
type AuditEvent struct {
	Index    int64           `json:"index"`
	Event    string          `json:"event"`
	Time     string          `json:"time"`
	JTI      string          `json:"jti,omitempty"`
	Sub      string          `json:"sub,omitempty"`
	Action   string          `json:"action,omitempty"`
	Aud      string          `json:"aud,omitempty"`
	Caller   string          `json:"caller,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Evidence json.RawMessage `json:"evidence,omitempty"`
}

// EntryProof is the answer of GET /audit/entries/{index}: the export line
// of the entry and the checkpoint its proof is for.
type EntryProof struct {
	audit.ExportLine
	Checkpoint string `json:"checkpoint"`
}

// ConsistencyProof is the answer of GET /audit/consistency.
type ConsistencyProof struct {
	From  int64       `json:"from"`
	To    int64       `json:"to"`
	Proof []tlog.Hash `json:"proof"`
}

// CheckpointRecord is one line of GET /audit/checkpoints.
type CheckpointRecord struct {
	Size int64  `json:"size"`
	Time string `json:"time"`
	Note string `json:"note"`
}

// maxPage is the largest limit of a listing.
const maxPage = 1000

func (s *Server) auditRoutes() {
	s.handle("GET", "/audit/checkpoint", s.auditCheckpoint)
	s.handle("GET", "/audit/checkpoints", s.auditCheckpoints)
	s.handle("GET", "/audit/key", s.auditKey)
	s.handle("GET", "/audit/entries", s.auditEntries)
	s.handle("GET", "/audit/entries/{index}", s.auditEntry)
	s.handle("GET", "/audit/consistency", s.auditConsistency)
}

// audit answers GET /audit: without an event filter, the verified tokens
// in the prototype's shape; with one, every field of the matching entries.
// Both newest first, with the next page's cursor in X-Next-Cursor and a
// Link header.
func (s *Server) audit(w http.ResponseWriter, r *http.Request) error {
	// 1. The filters.
	q, err := parseQuery(r, "sub", "action", "event", "since", "until",
		"limit", "cursor")
	if err != nil {
		return err
	}
	f, err := auditFilter(q)
	if err != nil {
		return err
	}

	// 2. The page, and the cursor of the next one.
	es, err := s.store.Entries(r.Context(), f)
	if err != nil {
		return err
	}
	if len(es) == f.Limit && es[len(es)-1].Index > 0 {
		next := strconv.FormatInt(es[len(es)-1].Index, 10)
		w.Header().Set("X-Next-Cursor", next)
		q.Set("cursor", next)
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`,
			r.URL.Path, q.Encode()))
	}

	// 3. The records.
	if q.Get("event") != "" {
		return writeJSON(w, http.StatusOK, auditEvents(es))
	}
	out := make([]AuditRecord, 0, len(es))
	for _, e := range es {
		out = append(out, AuditRecord{
			JTI: e.JTI, Sub: e.Sub, Action: e.Action,
			VerifiedAt: e.Time.Format(timeFormat),
		})
	}
	return writeJSON(w, http.StatusOK, out)
}

// auditFilter reads GET /audit's query into a filter.
func auditFilter(q url.Values) (ledger.Filter, error) {
	f := ledger.Filter{Event: string(audit.EventVerified), Limit: 100,
		Sub: q.Get("sub"), Action: q.Get("action")}
	if q.Has("sub") && token.ValidateSub(f.Sub) != nil {
		return f, badRequest("sub must be 1 to 256 characters " +
			"without control characters")
	}
	if q.Has("action") && token.ValidateAction(f.Action) != nil {
		return f, badRequest("action must be 1 to 64 printable ASCII " +
			"characters")
	}
	if q.Has("event") {
		f.Event = q.Get("event")
		if !validEvent(f.Event) {
			return f, badRequest("event must be 1 to 64 characters " +
				"of a-z, 0-9 and _")
		}
	}
	var err error
	if f.Since, err = timeParam(q, "since"); err != nil {
		return f, err
	}
	if f.Until, err = timeParam(q, "until"); err != nil {
		return f, err
	}
	n, err := intParam(q, "limit", 1, maxPage, 100)
	if err != nil {
		return f, err
	}
	f.Limit = int(n)
	if f.Before, err = intParam(q, "cursor", 1, audit.MaxIndex, 0); err != nil {
		return f, err
	}
	return f, nil
}

// auditEvents converts entries to records with every field.
func auditEvents(es []audit.Entry) []AuditEvent {
	out := make([]AuditEvent, 0, len(es))
	for _, e := range es {
		out = append(out, AuditEvent{
			Index: e.Index, Event: string(e.Event),
			Time: e.Time.Format(time.RFC3339Nano), JTI: e.JTI, Sub: e.Sub,
			Action: e.Action, Aud: e.Aud, Caller: e.Caller,
			Reason: e.Reason, Evidence: e.Evidence,
		})
	}
	return out
}

func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	sc, _, err := s.alog.Latest(r.Context())
	if err != nil {
		return err
	}
	return writeText(w, sc.Note)
}

func (s *Server) auditKey(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	return writeText(w, []byte(s.alog.VerifierKey()+"\n"))
}

func (s *Server) auditCheckpoints(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r, "after", "limit")
	if err != nil {
		return err
	}
	after, err := intParam(q, "after", 0, audit.MaxIndex, -1)
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", 1, maxPage, maxPage)
	if err != nil {
		return err
	}
	cps, err := s.alog.Checkpoints(r.Context(), after, int(limit))
	if err != nil {
		return err
	}
	out := make([]CheckpointRecord, 0, len(cps))
	for _, c := range cps {
		out = append(out, CheckpointRecord{Size: c.Size,
			Time: c.Time.Format(timeFormat), Note: string(c.Note)})
	}
	return writeJSON(w, http.StatusOK, out)
}

// auditEntries answers the entries in index order, as leaves, so that a
// client can rebuild the tree.
func (s *Server) auditEntries(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r, "from", "limit")
	if err != nil {
		return err
	}
	from, err := intParam(q, "from", 0, audit.MaxIndex, 0)
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", 1, maxPage, maxPage)
	if err != nil {
		return err
	}
	es, err := s.alog.Entries(r.Context(), from, int(limit))
	if err != nil {
		return err
	}
	if es == nil {
		es = []audit.Entry{}
	}
	return writeJSON(w, http.StatusOK, es)
}

func (s *Server) auditEntry(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	index, err := parseIndex(r.PathValue("index"))
	if err != nil {
		return err
	}
	line, sc, err := s.alog.Proof(r.Context(), index)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK,
		EntryProof{ExportLine: line, Checkpoint: string(sc.Note)})
}

func (s *Server) auditConsistency(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r, "from", "to")
	if err != nil {
		return err
	}
	if !q.Has("from") || !q.Has("to") {
		return badRequest("from and to are required")
	}
	from, err := intParam(q, "from", 1, audit.MaxIndex, 0)
	if err != nil {
		return err
	}
	to, err := intParam(q, "to", from, audit.MaxIndex, 0)
	if err != nil {
		return err
	}
	p, err := s.alog.Consistency(r.Context(), from, to)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK,
		ConsistencyProof{From: from, To: to, Proof: append([]tlog.Hash{}, p...)})
}

// parseQuery parses the query string, refusing parameters other than
// allowed and repeated ones.
func parseQuery(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("query string is not well formed")
	}
	for name, vs := range q {
		known := false
		for _, a := range allowed {
			known = known || a == name
		}
		if !known {
			return nil, badRequest("unknown query parameter " +
				strconv.Quote(clean(name)))
		}
		if len(vs) > 1 {
			return nil, badRequest("query parameter " + name +
				" is repeated")
		}
	}
	return q, nil
}

// clean shortens a client-supplied name and drops control characters, so
// it can be quoted in a problem's detail.
func clean(s string) string {
	out := make([]rune, 0, 32)
	for _, c := range s {
		if len(out) == 32 {
			break
		}
		if c >= 0x20 && c != 0x7f {
			out = append(out, c)
		}
	}
	return string(out)
}

// intParam reads an integer parameter from lo to hi, def if absent.
func intParam(q url.Values, name string, lo, hi, def int64) (int64, error) {
	if !q.Has(name) {
		return def, nil
	}
	n, err := strconv.ParseInt(q.Get(name), 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, badRequest(fmt.Sprintf(
			"%s must be an integer from %d to %d", name, lo, hi))
	}
	return n, nil
}

// timeParam reads an RFC 3339 time parameter; zero if absent.
func timeParam(q url.Values, name string) (time.Time, error) {
	if !q.Has(name) {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, q.Get(name))
	if err != nil {
		return t, badRequest(name + " must be an RFC 3339 time, " +
			"such as 2026-03-01T10:03:00Z")
	}
	// Stores keep times as int64 nanoseconds: clamp to what they hold.
	lo, hi := time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
	if t.Before(lo) {
		t = lo
	}
	if t.After(hi) {
		t = hi
	}
	return t, nil
}

// parseIndex reads an entry index from a path: canonical decimal.
func parseIndex(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > audit.MaxIndex ||
		strconv.FormatInt(n, 10) != v {
		return 0, badRequest("index must be a non-negative integer")
	}
	return n, nil
}

// validEvent reports whether ev can name an event: 1 to 64 of a-z, 0-9
// and _.
func validEvent(ev string) bool {
	if len(ev) == 0 || len(ev) > 64 {
		return false
	}
	for _, c := range []byte(ev) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func writeText(w http.ResponseWriter, b []byte) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, err := w.Write(b)
	return err
}
