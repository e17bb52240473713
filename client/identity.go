package client

import (
	"context"
	"net/http"

	"github.com/cairnhq/cairn"
)

// WhoAmI returns the principal of the client's key (GET /api/v1/whoami).
// Integrations that bind jobs to themselves as executor use its ID.
func (c *Client) WhoAmI(ctx context.Context) (*cairn.Principal, error) {
	return get[cairn.Principal](ctx, c, apiPrefix+"/whoami", nil)
}

// LedgerKey returns the tenant log's public key, the C2SP signed-note
// verifier key that dispatch receipts verify against (GET
// /api/v1/ledger/key). Taking it from the server trusts the server on
// first use; pin it where that matters.
func (c *Client) LedgerKey(ctx context.Context) (string, error) {
	var out struct {
		PublicKey string `json:"public_key"`
	}
	if _, err := c.call(ctx, request{method: http.MethodGet, path: apiPrefix + "/ledger/key", idempotent: true}, &out); err != nil {
		return "", err
	}
	return out.PublicKey, nil
}
