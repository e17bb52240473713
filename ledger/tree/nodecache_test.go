package tree

import "testing"

func TestNodeCacheKeepsTwoGenerations(t *testing.T) {
	var c NodeCache
	if _, ok := c.Get("t", 0, 0); ok {
		t.Fatal("an empty cache returned a node")
	}
	put := func(from, n int) {
		for i := from; i < from+n; i++ {
			c.Put("t", Node{Level: 1, Index: uint64(i), Hash: [32]byte{byte(i), byte(i >> 8)}})
		}
	}
	put(0, NodeCacheGeneration)
	put(NodeCacheGeneration, NodeCacheGeneration) // the first generation is now the previous one
	for _, i := range []int{0, NodeCacheGeneration - 1, NodeCacheGeneration, 2*NodeCacheGeneration - 1} {
		h, ok := c.Get("t", 1, uint64(i))
		if !ok || h != [32]byte{byte(i), byte(i >> 8)} {
			t.Fatalf("node %d: %x %v", i, h[:2], ok)
		}
	}
	if _, ok := c.Get("other", 1, 0); ok {
		t.Fatal("a node of another tenant was returned")
	}
	if _, ok := c.Get("t", 2, 0); ok {
		t.Fatal("a node of another level was returned")
	}
	put(2*NodeCacheGeneration, 1) // the first generation is dropped
	if _, ok := c.Get("t", 1, 0); ok {
		t.Fatal("the cache holds more than two generations")
	}
	if _, ok := c.Get("t", 1, uint64(2*NodeCacheGeneration)); !ok {
		t.Fatal("the newest node is missing")
	}
}
