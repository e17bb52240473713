package postgres

// WriterPID is the backend process of the store's writer connection.
func WriterPID(s *Store) uint32 { return s.wpid.Load() }

// Lease queries, for their plans.
const (
	LeasableAnyQuery   = leasableAny
	LeasableOfQuery    = leasableOf
	QueuedActionsQuery = queuedActions
)
