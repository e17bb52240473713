// Package bundle writes and reads Cairn's evidence bundles
// (cairn-evidence-bundle/v1, docs/evidence.md): the Bundle document, its
// assembly from a store's entries with their proofs (BuildBundle,
// BundleStream), what its entries refer to (CollectRefs), and its exact
// decoding (UnmarshalBundle). It builds on packages ledger (the format) and
// ledger/tree (proofs, checkpoints).
package bundle
