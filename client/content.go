package client

// Released contents (docs/ARCHITECTURE.md §6, "Who can read what"): a node
// releases a protected record's content (QueryRecord or StreamEvents with
// include_content) only to an entitled caller, and the caller checks it
// against the content_hash of its version, the payload commitment
// the chain suite's PayloadCommitment(salt, content): the node can only hand out the
// content the chain committed to.

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// CheckContent checks a released content against its version's
// content_hash, a commitment of the chain's crypto suite.
func CheckContent(suite crypto.Suite, rc *pb.RecordContent, contentHash []byte) error {
	p := rc.GetPayload()
	if err := suite.CheckPayload(contentHash, p.GetSalt(), p.GetContent()); err != nil {
		return fmt.Errorf("record %s version %d: the content the node returned does NOT match the version's content_hash %x (%v); it is not shown",
			rc.GetRecordId(), rc.GetVersion(), contentHash, err)
	}
	return nil
}

// ContentOptions say where a ContentChecker takes the versions'
// content_hash from.
type ContentOptions struct {
	// Prove reads each version with a proof checked against Anchor; with
	// no Anchor, against the node's own validator set (VerifyStateProof
	// without an anchor: self-consistent, not anchored).
	Prove  bool
	Anchor *Anchor
	// ChainID is the chain proofs checked without an Anchor must be of
	// (default: the node's); with an Anchor, the anchor's chain is.
	ChainID string
}

// ContentChecker checks released contents, reading each version's
// content_hash from committed state once (a Follow releases many). It is
// not safe for concurrent use.
type ContentChecker struct {
	c     *Client
	o     ContentOptions
	known map[string][]byte // exec.RecordVersionKey → content_hash
}

// maxKnownVersions bounds a checker's memory: past it, versions are read
// again.
const maxKnownVersions = 4096

// NewContentChecker returns a checker of the contents this client
// receives.
func (c *Client) NewContentChecker(o ContentOptions) *ContentChecker {
	if o.ChainID == "" && o.Anchor != nil {
		o.ChainID = o.Anchor.ChainID
	}
	return &ContentChecker{c: c, o: o, known: map[string][]byte{}}
}

// Know takes the content_hash of record id's versions from an answer the
// caller trusts as it is (an unproven QueryRecord with_versions); a
// proving checker ignores them.
func (k *ContentChecker) Know(id string, versions []*pb.RecordVersion) {
	if k.o.Prove {
		return
	}
	for _, v := range versions {
		if v.GetRecordId() == id {
			k.remember(exec.RecordVersionKey(id, v.GetVersion()), v.GetContentHash())
		}
	}
}

func (k *ContentChecker) remember(key, hash []byte) {
	if len(k.known) >= maxKnownVersions {
		clear(k.known)
	}
	k.known[string(key)] = hash
}

// ContentHash is the content_hash of version of record id, from committed
// state (proven as the options say).
func (k *ContentChecker) ContentHash(ctx context.Context, id string, version uint64) ([]byte, error) {
	key := exec.RecordVersionKey(id, version)
	if h, ok := k.known[string(key)]; ok {
		return h, nil
	}
	what := fmt.Sprintf("version %d of record %s", version, id)
	var res *pb.QueryStateResponse
	var err error
	if k.o.Prove && k.o.Anchor != nil {
		// VerifiedState waits out the attested state trailing the newest.
		if res, _, err = k.c.VerifiedState(ctx, k.o.Anchor, key, 0); err != nil {
			if ce := (*CallError)(nil); errors.As(err, &ce) {
				return nil, k.c.callErr("read "+what, ce.Err)
			}
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	} else if res, err = k.c.QueryState(ctx, &pb.QueryStateRequest{Key: key, Prove: k.o.Prove}); err != nil {
		return nil, k.c.callErr("read "+what, errors.Unwrap(err))
	}
	if !res.GetFound() {
		return nil, fmt.Errorf("the node returned content for %s, which the chain does not have", what)
	}
	v := &pb.RecordVersion{}
	if err := proto.Unmarshal(res.GetValue(), v); err != nil {
		return nil, fmt.Errorf("read %s: the node returned a value that does not decode: %w", what, err)
	}
	if k.o.Prove && k.o.Anchor == nil {
		chainID := k.o.ChainID
		if chainID == "" {
			if chainID, err = k.c.ChainID(ctx); err != nil {
				return nil, err
			}
		}
		suite, err := k.c.Suite(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := VerifyStateProof(res.GetProof(), key, res.GetValue(), chainID, suite, nil); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	k.remember(key, v.GetContentHash())
	return v.GetContentHash(), nil
}

// Check checks a released content against its version's content_hash and
// returns that hash.
func (k *ContentChecker) Check(ctx context.Context, rc *pb.RecordContent) ([]byte, error) {
	hash, err := k.ContentHash(ctx, rc.GetRecordId(), rc.GetVersion())
	if err != nil {
		return nil, err
	}
	suite, err := k.c.Suite(ctx)
	if err != nil {
		return nil, err
	}
	if err := CheckContent(suite, rc, hash); err != nil {
		return nil, err
	}
	return hash, nil
}
