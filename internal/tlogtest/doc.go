// Package tlogtest checks Cairn's tlog-tiles view and its tlog-witness
// pushing against the real third-party implementations: tessera's fsck and
// client (github.com/transparency-dev/tessera), omniwitness
// (github.com/transparency-dev/witness) and litewitness
// (filippo.io/torchwood). It is a module of its own so that their
// dependencies (cloud SDKs among them) stay out of Cairn's go.mod; it only
// has tests. Run it from this directory:
//
//	go test -race -count=1 .
//
// litewitness and witnessctl are binaries (torchwood exposes no library):
// CAIRN_TORCHWOOD_BIN names the directory holding them (.ci/run builds them
// there); without it the litewitness tests skip, unless
// CAIRN_REQUIRE_TLOG_TOOLS=1, when they fail.
package tlogtest
