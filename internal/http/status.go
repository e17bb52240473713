package http

import (
	nethttp "net/http"

	"github.com/cairnhq/cairn"
)

// statusOf is the HTTP status of every error code: the one place a code
// becomes a status (the codes themselves are defined in the root package).
var statusOf = map[string]int{
	cairn.EInvalid:                    nethttp.StatusBadRequest,
	cairn.CodeInvalidCursor:           nethttp.StatusBadRequest,
	cairn.EUnauthorized:               nethttp.StatusUnauthorized,
	cairn.CodeKeyRevoked:              nethttp.StatusUnauthorized,
	cairn.EForbidden:                  nethttp.StatusForbidden,
	cairn.CodeSelfApprovalForbidden:   nethttp.StatusForbidden,
	cairn.CodeOutputQuarantined:       nethttp.StatusForbidden,
	cairn.CodeRoleNotAllowed:          nethttp.StatusForbidden,
	cairn.CodeRunNotOwned:             nethttp.StatusForbidden,
	cairn.CodePayloadAccessDenied:     nethttp.StatusForbidden,
	cairn.CodeErased:                  nethttp.StatusGone,
	cairn.ENotFound:                   nethttp.StatusNotFound,
	cairn.CodeNoApprovalPending:       nethttp.StatusNotFound,
	cairn.EMethod:                     nethttp.StatusMethodNotAllowed,
	cairn.ETimeout:                    nethttp.StatusRequestTimeout,
	cairn.EConflict:                   nethttp.StatusConflict,
	cairn.CodeJobHashMismatch:         nethttp.StatusConflict,
	cairn.CodeApprovalAlreadyResolved: nethttp.StatusConflict,
	cairn.CodeApprovalExpired:         nethttp.StatusConflict,
	cairn.CodeJobConflict:             nethttp.StatusConflict,
	cairn.CodeLeaseInvalid:            nethttp.StatusConflict,
	cairn.CodePrincipalCase:           nethttp.StatusConflict,
	cairn.CodeJobNotOpen:              nethttp.StatusConflict,
	cairn.CodeRunConflict:             nethttp.StatusConflict,
	cairn.CodeRunFinished:             nethttp.StatusConflict,
	cairn.CodeRunNotFinished:          nethttp.StatusConflict,
	cairn.CodeWorkflowRun:             nethttp.StatusConflict,
	cairn.CodeWorkflowExists:          nethttp.StatusConflict,
	cairn.CodeGateNotPending:          nethttp.StatusConflict,
	cairn.CodeAlreadyVoted:            nethttp.StatusConflict,
	cairn.CodeLegalHold:               nethttp.StatusConflict,
	cairn.CodePrunedByRetention:       nethttp.StatusGone,
	cairn.ETooLarge:                   nethttp.StatusRequestEntityTooLarge,
	cairn.EUnsupported:                nethttp.StatusUnsupportedMediaType,
	cairn.EPolicy:                     nethttp.StatusUnprocessableEntity,
	cairn.CodeWorkflowInvalid:         nethttp.StatusUnprocessableEntity,
	cairn.ETooMany:                    nethttp.StatusTooManyRequests,
	cairn.EInternal:                   nethttp.StatusInternalServerError,
	cairn.CodeLedgerTruncated:         nethttp.StatusInternalServerError,
	cairn.EUnavailable:                nethttp.StatusServiceUnavailable,
	cairn.CodeOutcomeUnknown:          nethttp.StatusGatewayTimeout,
}

// StatusOf is the HTTP status of an error code, and whether the code is
// known; an unknown code answers 500.
func StatusOf(code string) (int, bool) {
	s, ok := statusOf[code]
	if !ok {
		return nethttp.StatusInternalServerError, false
	}
	return s, true
}
