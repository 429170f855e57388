package httpapi

import (
	"context"
)

// NOTE: the minting caller is kept server-side, in the token's minted
// audit entry, rather than put into the token as a claim. The token profile stays the one every
// verifier already checks; the agent that carries the token does not learn
// the names of its operator's backend services; and only /proxy, which
// consumes the token on this server, can name the minter. Verifiers that
// check tokens offline see no minter; they did not ask this service.

// minter returns the caller that minted jti, or "".
func (s *Server) minter(ctx context.Context, jti string) (string, error) {
	// Without callers no token was minted by one: skip the lookup.
	if has, err := s.hasCallers(ctx); err != nil || !has {
		return "", err
	}
	return s.callers.Minter(ctx, jti)
}
