// Package forward delivers a tenant's ledger events from Cairn's event feed
// (GET /api/v1/events) to SIEM sinks: a signed NDJSON webhook, syslog
// (RFC 5424 or CEF over TCP, optionally TLS), Splunk HEC and OCSF API
// Activity records. Delivery is at least once and in order: each sink's
// cursor (the last ledger index it acknowledged) is written to a state file,
// fsync'd and atomically renamed, only after the sink acknowledged the
// batch; a sink that fails is retried with backoff, never skipped
// (ADR 0033, docs/siem.md). Every delivered record carries its ledger index
// and leaf hash, so a consumer detects duplicates and gaps, and Verify checks
// a delivered range against a signed checkpoint.
package forward
