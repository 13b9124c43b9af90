// Package consensustest holds helpers for tests of consensus and its
// users: seeded validator keys and configurations. It is never imported by
// production code.
package consensustest

import (
	"encoding/binary"
	"math/rand/v2"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Keys returns n ed25519 keys drawn from a reader seeded with seed.
func Keys(n int, seed uint64) []crypto.PrivateKey {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	r := rand.NewChaCha8(s)
	keys := make([]crypto.PrivateKey, n)
	for i := range keys {
		k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, r)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
}

// Config returns a valid default config for the keys, observer view
// (Self = -1); set Self per replica.
func Config(keys []crypto.PrivateKey, model consensus.FaultModel) consensus.Config {
	cfg := consensus.DefaultConfig()
	cfg.ChainID = "test-chain"
	cfg.GenesisHash = crypto.Ed25519SHA256.Hash([]byte("test-genesis"))
	cfg.FaultModel = model
	for _, k := range keys {
		cfg.Validators = append(cfg.Validators, k.Public())
	}
	return cfg
}
