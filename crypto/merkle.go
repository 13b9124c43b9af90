package crypto

// MerkleRoot returns the RFC 6962 Merkle tree hash of the leaves: leaf
// hashes are H(0x00 ‖ leaf), inner nodes H(0x01 ‖ left ‖ right), the split at
// the largest power of two below n, and the empty tree hashes to H("").
// tx_root is MerkleRoot of the tx hashes; results_hash of the serialized
// results. H is the suite's hash.
func (s Suite) MerkleRoot(leaves [][]byte) []byte {
	if len(leaves) == 0 {
		return s.Hash(nil)
	}
	level := make([][]byte, len(leaves))
	for i, l := range leaves {
		h := s.New()
		h.Write([]byte{0})
		h.Write(l)
		level[i] = h.Sum(nil)
	}
	return s.merkleLevel(level)
}

func (s Suite) merkleLevel(hs [][]byte) []byte {
	if len(hs) == 1 {
		return hs[0]
	}
	k := 1
	for k*2 < len(hs) {
		k *= 2
	}
	l, r := s.merkleLevel(hs[:k]), s.merkleLevel(hs[k:])
	h := s.New()
	h.Write([]byte{1})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}
