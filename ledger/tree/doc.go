// Package tree is the Merkle machinery of Cairn's ledgers (RFC 6962 / C2SP
// tlog): the append kernel both stores run (Head.Step, Heads, Appender),
// node reading and caching (NodeReader, NodeCache), inclusion, consistency
// and range proofs, tlog-tiles views of the node table, signed checkpoints
// and their keys, witness cosignatures, and dispatch receipts. It builds on
// package ledger (the format: canonical JSON, envelopes, leaf hashes) and
// imports nothing else of Cairn's.
package tree
