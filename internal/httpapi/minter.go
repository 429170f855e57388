package httpapi

import (
	"context"
	"fmt"

	"github.com/agentmint/agentmint/token"
)

// NOTE: the minting caller is kept server-side, keyed by jti, rather than
// put into the token as a claim. The token profile stays the one every
// verifier already checks; the agent that carries the token does not learn
// the names of its operator's backend services; and only /proxy, which
// consumes the token on this server, can name the minter. Verifiers that
// check tokens offline see no minter; they did not ask this service.

// recordMinter records the caller that minted c, if one did.
func (s *Server) recordMinter(ctx context.Context, c *token.Claims) error {
	name := callerName(ctx)
	if name == "" || s.callers == nil {
		return nil
	}
	if err := s.callers.RecordMinter(ctx, c.ID, name, c.ExpiresAt()); err != nil {
		return fmt.Errorf("failed to record minter: %w", err)
	}
	return nil
}

// minter returns the caller that minted jti, or "".
func (s *Server) minter(ctx context.Context, jti string) (string, error) {
	if s.callers == nil {
		return "", nil
	}
	return s.callers.Minter(ctx, jti)
}
