package cairn

import "github.com/transparency-dev/merkle/compact"

// NodeSource is what reads a tenant's stored Merkle nodes: a ReadTx, or a
// store's reader.
type NodeSource interface {
	LedgerNodes(tenant string, ids []NodeID) ([][32]byte, error)
}

// TenantNodes reads one tenant's stored Merkle nodes by the tree
// library's node ids (it is a ledger.NodeReader): the one adapter between
// the stores and the ledger's proof code.
type TenantNodes struct {
	Src    NodeSource
	Tenant string
}

// Nodes returns the hashes of the nodes ids names, in order.
func (n TenantNodes) Nodes(ids []compact.NodeID) ([][32]byte, error) {
	cids := make([]NodeID, len(ids))
	for i, id := range ids {
		cids[i] = NodeID{Level: id.Level, Index: id.Index}
	}
	return n.Src.LedgerNodes(n.Tenant, cids)
}
