package sqlite

// SetMaintainTree lets benchmarks measure the cost of the Merkle tree.
func SetMaintainTree(on bool) { maintainTree = on }
