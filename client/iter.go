package client

import (
	"context"
	"errors"
	"iter"

	"github.com/cairnhq/cairn"
)

// ErrCursorLoop is returned by All when the server answers a page with the
// cursor it was asked for, which would otherwise loop forever.
var ErrCursorLoop = errors.New("cairn: list cursor did not advance")

// All walks every page of a list, starting at cursor start ("" = the first
// page), by calling fetch with each next_cursor until it is null. It yields
// the items in order; on an error it yields (zero, err) once and stops.
//
//	for job, err := range client.All(ctx, "", func(ctx context.Context, cur string) (*cairn.List[*cairn.Job], error) {
//		return c.ListJobs(ctx, client.JobFilter{State: "QUEUED", Page: client.Page{Cursor: cur}})
//	}) { ... }
func All[T any](ctx context.Context, start string, fetch func(ctx context.Context, cursor string) (*cairn.List[T], error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		cur := start
		for {
			if err := ctx.Err(); err != nil {
				yield(zero, err)
				return
			}
			page, err := fetch(ctx, cur)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, it := range page.Items {
				if !yield(it, nil) {
					return
				}
			}
			if page.NextCursor == nil || *page.NextCursor == "" {
				return
			}
			if *page.NextCursor == cur {
				yield(zero, ErrCursorLoop)
				return
			}
			cur = *page.NextCursor
		}
	}
}

// AllJobs yields every job matching f, newest first, from f.Cursor on.
func (c *Client) AllJobs(ctx context.Context, f JobFilter) iter.Seq2[*cairn.Job, error] {
	return All(ctx, f.Cursor, func(ctx context.Context, cur string) (*cairn.List[*cairn.Job], error) {
		f.Cursor = cur
		return c.ListJobs(ctx, f)
	})
}

// AllDecisions yields every policy evaluation of a job, oldest first.
func (c *Client) AllDecisions(ctx context.Context, jobID string, p Page) iter.Seq2[*cairn.Decision, error] {
	return All(ctx, p.Cursor, func(ctx context.Context, cur string) (*cairn.List[*cairn.Decision], error) {
		p.Cursor = cur
		return c.ListDecisions(ctx, jobID, p)
	})
}

// AllApprovals yields every approval matching f.
func (c *Client) AllApprovals(ctx context.Context, f ApprovalFilter) iter.Seq2[*cairn.Approval, error] {
	return All(ctx, f.Cursor, func(ctx context.Context, cur string) (*cairn.List[*cairn.Approval], error) {
		f.Cursor = cur
		return c.ListApprovals(ctx, f)
	})
}

// AllTimeline yields a run's whole timeline from f.After (or f.Cursor) on,
// oldest first.
func (c *Client) AllTimeline(ctx context.Context, runID string, f TimelineFilter) iter.Seq2[*cairn.Event, error] {
	return All(ctx, f.Cursor, func(ctx context.Context, cur string) (*cairn.List[*cairn.Event], error) {
		g := f
		if cur != "" {
			g.Cursor, g.After = cur, 0
		}
		return c.Timeline(ctx, runID, g)
	})
}

// AllPolicyAudit yields every policy audit entry matching f, newest first.
func (c *Client) AllPolicyAudit(ctx context.Context, f AuditFilter) iter.Seq2[*cairn.PolicyAudit, error] {
	return All(ctx, f.Cursor, func(ctx context.Context, cur string) (*cairn.List[*cairn.PolicyAudit], error) {
		f.Cursor = cur
		return c.PolicyAudit(ctx, f)
	})
}

// AllSnapshots yields every published policy snapshot.
func (c *Client) AllSnapshots(ctx context.Context, p Page) iter.Seq2[*cairn.Snapshot, error] {
	return All(ctx, p.Cursor, func(ctx context.Context, cur string) (*cairn.List[*cairn.Snapshot], error) {
		p.Cursor = cur
		return c.ListSnapshots(ctx, p)
	})
}

// AllKeys yields every key of the tenant.
func (c *Client) AllKeys(ctx context.Context, p Page) iter.Seq2[*cairn.Key, error] {
	return All(ctx, p.Cursor, func(ctx context.Context, cur string) (*cairn.List[*cairn.Key], error) {
		p.Cursor = cur
		return c.ListKeys(ctx, p)
	})
}

// AllLedgerEntries yields the tenant's ledger from f.From (or f.Cursor) on.
func (c *Client) AllLedgerEntries(ctx context.Context, f LedgerFilter) iter.Seq2[*cairn.LedgerEntry, error] {
	return All(ctx, f.Cursor, func(ctx context.Context, cur string) (*cairn.List[*cairn.LedgerEntry], error) {
		g := f
		if cur != "" {
			g.Cursor = cur
		}
		return c.LedgerEntries(ctx, g)
	})
}
