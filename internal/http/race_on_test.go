//go:build race

package http_test

// raceEnabled: the race detector slows byte loops (decoding, hashing,
// base64) tens of times; tests that move hundreds of MiB move less.
const raceEnabled = true
