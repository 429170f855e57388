package httpapi

import "net/http"

// requireRole refuses a request whose caller does not hold role.
// TODO(#3): replaced by the caller check of issue 3 at merge
func (s *Server) requireRole(r *http.Request, role string) error {
	return nil
}
