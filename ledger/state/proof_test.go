package state_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/govnode/govnode/ledger/state"
)

// proofFixture is a tree of 300 keys with one version.
func proofFixture(t *testing.T) (*state.Tree, state.Hash) {
	db, tr := newTree(t)
	var changes []state.Change
	for i := 0; i < 300; i++ {
		changes = append(changes, set(fmt.Sprint("key-", i), fmt.Sprint("value-", i)))
	}
	return tr, commit(t, db, tr, 0, changes)
}

func TestProofsAccepted(t *testing.T) {
	tr, root := proofFixture(t)
	for i := 0; i < 300; i++ {
		k := []byte(fmt.Sprint("key-", i))
		v, p, err := tr.GetWithProof(0, k)
		if err != nil || string(v) != fmt.Sprint("value-", i) {
			t.Fatalf("GetWithProof(%s) = %q, %v", k, v, err)
		}
		if err := state.Verify(state.SHA256, root, k, v, p); err != nil {
			t.Fatalf("inclusion of %s: %v", k, err)
		}
		// Round trip through the encoding.
		p2, err := state.UnmarshalProof(p.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if err := state.Verify(state.SHA256, root, k, v, p2); err != nil {
			t.Fatalf("decoded inclusion of %s: %v", k, err)
		}
	}
	leafEnded := 0
	for i := 0; i < 300; i++ {
		k := []byte(fmt.Sprint("absent-", i))
		v, p, err := tr.GetWithProof(0, k)
		if err != nil || v != nil {
			t.Fatalf("GetWithProof(%s) = %q, %v", k, v, err)
		}
		if p.Leaf != nil {
			leafEnded++
		}
		if err := state.Verify(state.SHA256, root, k, nil, p); err != nil {
			t.Fatalf("non-inclusion of %s: %v", k, err)
		}
	}
	if leafEnded == 0 || leafEnded == 300 {
		t.Fatalf("%d of 300 absence proofs end at a leaf; want both kinds covered", leafEnded)
	}
}

func TestProofsRejected(t *testing.T) {
	tr, root := proofFixture(t)
	k := []byte("key-7")
	v, p, _ := tr.GetWithProof(0, k)
	absent := []byte("absent-1")
	_, pa, _ := tr.GetWithProof(0, absent)
	var paLeaf, paEmpty *state.Proof
	var absLeaf, absEmpty []byte
	for i := 0; paLeaf == nil || paEmpty == nil; i++ {
		a := []byte(fmt.Sprint("absent-", i))
		_, q, _ := tr.GetWithProof(0, a)
		if q.Leaf != nil && paLeaf == nil {
			paLeaf, absLeaf = q, a
		}
		if q.Leaf == nil && paEmpty == nil {
			paEmpty, absEmpty = q, a
		}
	}
	clone := func(p *state.Proof) *state.Proof {
		q, err := state.UnmarshalProof(p.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	other := state.Hash{0xaa}
	cases := []struct {
		name       string
		root       state.Hash
		key, value []byte
		proof      *state.Proof
	}{
		{"wrong value", root, k, []byte("value-8"), p},
		{"wrong key", root, []byte("key-8"), v, p},
		{"wrong root", other, k, v, p},
		{"empty root", state.EmptyRoot, k, v, p},
		{"present key proved absent", root, k, nil, p},
		{"absent key proved present", root, absent, []byte("x"), pa},
		{"absence proof for another absent key", root, []byte("absent-2"), nil, pa},
		{"nil proof", root, k, v, nil},
		{"absence proof ending in a leaf, used for inclusion", root, absLeaf, []byte("x"), paLeaf},
		{"absence proof used for the leaf's own key", root, absEmpty, nil, paLeaf},
		{"forged: sibling flipped", root, k, v, func() *state.Proof {
			q := clone(p)
			q.Siblings[len(q.Siblings)-1][0] ^= 1
			return q
		}()},
		{"forged: sibling dropped", root, k, v, func() *state.Proof {
			q := clone(p)
			q.Siblings = q.Siblings[:len(q.Siblings)-1]
			return q
		}()},
		{"forged: empty sibling appended", root, k, v, func() *state.Proof {
			q := clone(p)
			q.Siblings = append(q.Siblings, state.EmptyRoot)
			return q
		}()},
		{"forged: leaf added to an inclusion proof", root, k, v, func() *state.Proof {
			q := clone(p)
			q.Leaf = &state.ProofLeaf{KeyHash: state.SHA256.KeyHash(k), ValueHash: state.SHA256.ValueHash(v)}
			return q
		}()},
		{"forged: leaf dropped from an absence proof", root, absLeaf, nil, func() *state.Proof {
			q := clone(paLeaf)
			q.Leaf = nil
			return q
		}()},
		{"forged: leaf value changed", root, absLeaf, nil, func() *state.Proof {
			q := clone(paLeaf)
			q.Leaf.ValueHash[3] ^= 1
			return q
		}()},
		{"forged: absence leaf off the key's path", root, absLeaf, nil, func() *state.Proof {
			// A real leaf of the tree, but not where absLeaf's path ends.
			_, q, _ := tr.GetWithProof(0, []byte("key-1"))
			leafKH, leafVH := state.SHA256.KeyHash([]byte("key-1")), state.SHA256.ValueHash([]byte("value-1"))
			q.Leaf = &state.ProofLeaf{KeyHash: leafKH, ValueHash: leafVH}
			return q
		}()},
		{"too many siblings", root, k, v, &state.Proof{Siblings: make([]state.Hash, state.MaxProofDepth+1)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := state.Verify(state.SHA256, c.root, c.key, c.value, c.proof)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, state.ErrInvalidProof) {
				t.Fatalf("error %v does not wrap ErrInvalidProof", err)
			}
		})
	}
}

func TestProofEncodingRejects(t *testing.T) {
	tr, _ := proofFixture(t)
	_, p, _ := tr.GetWithProof(0, []byte("absent-0"))
	good := p.Marshal()
	if _, err := state.UnmarshalProof(good); err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string][]byte{
		"empty":          {},
		"one byte":       {0},
		"trailing byte":  append(bytes.Clone(good), 0),
		"truncated":      good[:len(good)-1],
		"unknown flag":   mut(func(b []byte) []byte { b[0] |= 0x80; return b }),
		"257 siblings":   {0, 0x81, 0x02},
		"non-minimal n":  {0, 0x80, 0x00},
		"padding bit":    {0, 1, 0x7f},
		"zero sibling":   append([]byte{0, 1, 0x80}, make([]byte, 32)...),
		"leaf truncated": append([]byte{1, 0}, make([]byte, 63)...),
		"oversized":      make([]byte, state.MaxProofSize+1),
	}
	for name, b := range cases {
		if _, err := state.UnmarshalProof(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestProofSize(t *testing.T) {
	tr, _ := proofFixture(t)
	_, p, _ := tr.GetWithProof(0, []byte("key-1"))
	// About log2(300) ≈ 8 siblings of 32 bytes.
	if n := len(p.Marshal()); n > 20*32 {
		t.Fatalf("proof at 300 keys is %d bytes", n)
	}
}
