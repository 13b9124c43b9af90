package api

// Proof bundles (ARCHITECTURE.md §6, "Proof bundles"): a record's whole
// history with everything needed to verify it offline from the genesis
// hash alone (lightclient.VerifyBundle is the verifier; its rules are the
// contract the assembly below follows).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/ledger/lightclient"
	"github.com/govnode/govnode/ledger/store"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// GetRecordBundle answers a record's proof bundle at the newest attested
// state, or at req.height (RecordBundle). Like every RPC it goes through
// the API's gate (authentication, rate limits); the response is bounded
// by lightclient.MaxBundleBytes.
func (s *Server) GetRecordBundle(ctx context.Context, req *connect.Request[pb.GetRecordBundleRequest]) (*connect.Response[pb.GetRecordBundleResponse], error) {
	b, err := s.RecordBundle(ctx, req.Msg.GetRecordId(), req.Msg.GetHeight())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&pb.GetRecordBundleResponse{Bundle: b}), nil
}

// MaxConcurrentBundles bounds the proof bundles a node builds at once
// (the API and the portal together); more are refused ResourceExhausted
// with a retry delay.
const MaxConcurrentBundles = 4

// bundlesBusy is the refusal of a bundle beyond MaxConcurrentBundles.
func bundlesBusy() error {
	err := connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("%d proof bundles are being built on this node, its most at once: retry in a second", MaxConcurrentBundles))
	if d, derr := connect.NewErrorDetail(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)}); derr == nil {
		err.AddDetail(d)
	}
	return err
}

// RecordBundle assembles the proof bundle of record id in the state at
// height (0: the newest state a committed header attests, the head block's
// state_height). Its errors are connect errors: InvalidArgument for a bad
// id or a height not attested yet, NotFound for a record not in that
// state, FailedPrecondition when no header attests height exactly or the
// node lacks what a bundle needs, ResourceExhausted naming the limit a
// record's history exceeds (lightclient.MaxVersions, MaxAccessEntries,
// MaxAnchors, MaxBundleBytes).
//
// The portal builds its bundles in process through GetRecordBundle, as an
// anonymous caller: a bundle holds what state holds, which for a protected
// record is the content hash only, never the content.
//
// Each version is proven in the state at the height it was written, under
// the first committed block whose header attests that state (the lowest
// block with state_height equal to it). When none does (a view change
// committed the version's block together with the next one, so
// state_height went past it), the lowest block attesting a later state is
// used: a version key is written once (ledger/exec refuses to overwrite
// it), so the value there is the value written; the verifier accepts a
// version proven at any state height from its own up to the bundle's.
// Versions written at one height share their anchor, and the record, the
// access counter and the entries share the anchor of the bundle's height.
func (s *Server) RecordBundle(ctx context.Context, id string, height uint64) (*pb.ProofBundle, error) {
	if err := checkID("record_id", id); err != nil {
		return nil, err
	}
	if s.d.Genesis == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("this node serves no proof bundles: its API was given no genesis document"))
	}
	if s.bundles != nil { // nil: a Server not made by New (tests), unbounded
		select {
		case s.bundles <- struct{}{}:
			defer func() { <-s.bundles }()
		default:
			return nil, bundlesBusy()
		}
	}
	gen, err := proto.MarshalOptions{Deterministic: true}.Marshal(s.d.Genesis) // as genesis.Hash hashes it
	if err != nil {
		return nil, internal(fmt.Errorf("encode genesis: %w", err))
	}
	head, _ := s.d.Ledger.Height()
	if head == 0 {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("no committed block attests a state yet"))
	}
	bb := &bundleBuilder{s: s, ctx: ctx, id: id, headers: map[uint64]*bundleHeader{}, anchorOf: map[uint64]uint32{},
		b: &pb.ProofBundle{Format: lightclient.Format, Genesis: gen, RecordId: id}}
	if err := bb.grow(len(gen)); err != nil {
		return nil, err
	}
	if err := bb.build(head, height); err != nil {
		return nil, bundleErr(err)
	}
	if n := proto.Size(bb.b); n > lightclient.MaxBundleBytes {
		return nil, bundleTooLarge(id, n+1)
	}
	return bb.b, nil
}

// bundleErr keeps a connect error's code; anything else is internal,
// unless the request's context ended.
func bundleErr(err error) error {
	var ce *connect.Error
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	}
	return internal(err)
}

// bundleHeader is a committed block's serialized and decoded header.
type bundleHeader struct {
	raw []byte
	hdr *pb.Header
}

// bundleBuilder assembles one bundle; it lives for one request.
type bundleBuilder struct {
	s        *Server
	ctx      context.Context
	id       string
	b        *pb.ProofBundle
	headers  map[uint64]*bundleHeader // by block height
	anchorOf map[uint64]uint32        // block height → index in b.Anchors
	// size is about the encoded size of b so far (each part's own size,
	// not the few bytes that frame it): checked as parts are added, so a
	// record too large for a bundle is refused before all of it is read
	// (a public version can carry megabytes of content, and thousands of
	// versions are allowed).
	size int
}

// grow counts n more bytes of the bundle, refusing past MaxBundleBytes.
func (bb *bundleBuilder) grow(n int) error {
	bb.size += n
	if bb.size > lightclient.MaxBundleBytes {
		return bundleTooLarge(bb.id, bb.size)
	}
	return nil
}

func bundleTooLarge(id string, n int) error {
	return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("the bundle of record %q is more than %d bytes, above lightclient.MaxBundleBytes (%d)", id, n-1, lightclient.MaxBundleBytes))
}

func (bb *bundleBuilder) header(h uint64) (*bundleHeader, error) {
	if x, ok := bb.headers[h]; ok {
		return x, nil
	}
	blk, err := bb.s.block(h)
	if err != nil {
		return nil, err
	}
	hdr := &pb.Header{}
	if err := proto.Unmarshal(blk.GetHeader(), hdr); err != nil {
		return nil, fmt.Errorf("decode header %d: %w", h, err)
	}
	x := &bundleHeader{raw: blk.GetHeader(), hdr: hdr}
	bb.headers[h] = x
	return x, nil
}

// attesting returns the lowest block in [lo, hi] whose header attests the
// state at height at or above it, by binary search: state_height never
// decreases along the chain (a header attests the highest height its own
// ancestry commits). hi's header must attest at least at.
func (bb *bundleBuilder) attesting(at, lo, hi uint64) (uint64, error) {
	for lo < hi {
		if err := bb.ctx.Err(); err != nil {
			return 0, err
		}
		mid := lo + (hi-lo)/2
		x, err := bb.header(mid)
		if err != nil {
			return 0, err
		}
		if x.hdr.GetStateHeight() >= at {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// anchor returns the index of block h's anchor, adding it: its header, its
// commit certificate and, when the certificate commits a later block and
// does not carry the headers between, the ledger's headers from h's child
// up to that block.
func (bb *bundleBuilder) anchor(h uint64) (uint32, error) {
	if i, ok := bb.anchorOf[h]; ok {
		return i, nil
	}
	if len(bb.b.Anchors) >= lightclient.MaxAnchors {
		return 0, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("record %q needs more than lightclient.MaxAnchors (%d) committed headers", bb.id, lightclient.MaxAnchors))
	}
	x, err := bb.header(h)
	if err != nil {
		return 0, err
	}
	cert, err := bb.s.commitCert(h)
	if err != nil {
		return 0, err
	}
	a := &pb.BundleAnchor{Header: x.raw, Cert: cert}
	switch c := cert.GetHeight(); {
	case c < h:
		return 0, fmt.Errorf("commit certificate of block %d names height %d, below it", h, c)
	case c > h && len(cert.GetChain()) == 0:
		if c-h > consensus.MaxCertChain {
			return 0, fmt.Errorf("commit certificate of block %d commits block %d, more than %d headers above it", h, c, consensus.MaxCertChain)
		}
		for k := h + 1; k <= c; k++ {
			y, err := bb.header(k)
			if err != nil {
				return 0, fmt.Errorf("the headers linking block %d to block %d its certificate commits: %w", h, c, err)
			}
			a.Chain = append(a.Chain, y.raw)
		}
	}
	if err := bb.grow(proto.Size(a)); err != nil {
		return 0, err
	}
	i := uint32(len(bb.b.Anchors))
	bb.b.Anchors = append(bb.b.Anchors, a)
	bb.anchorOf[h] = i
	return i, nil
}

// prove proves key in the state at height at, under block blk's anchor
// (whose header attests at). A missing key is proven absent (empty value).
func (bb *bundleBuilder) prove(key []byte, at, blk uint64) (*pb.BundleProof, error) {
	value, p, err := bb.s.d.Ledger.GetWithProof(at, key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("prove %q at height %d: %w", key, at, err)
	}
	if p == nil {
		return nil, fmt.Errorf("prove %q at height %d: the tree gave no proof", key, at)
	}
	i, err := bb.anchor(blk)
	if err != nil {
		return nil, err
	}
	bp := &pb.BundleProof{Key: key, Value: value, Proof: p.Marshal(), Anchor: i}
	if err := bb.grow(proto.Size(bp)); err != nil {
		return nil, err
	}
	return bp, nil
}

func (bb *bundleBuilder) build(head, height uint64) error {
	// The block whose header attests the bundle's height.
	top, err := bb.header(head)
	if err != nil {
		return err
	}
	newest := top.hdr.GetStateHeight()
	blk := head
	if height == 0 {
		height = newest
	}
	switch {
	case height == 0:
		return connect.NewError(connect.CodeFailedPrecondition, errors.New("no committed header attests a state after genesis yet"))
	case height > newest:
		return invalidArg("height %d is not attested yet: the newest state a committed header attests is at height %d", height, newest)
	case height < newest:
		if blk, err = bb.attesting(height, height+1, head); err != nil {
			return err
		}
		x, err := bb.header(blk)
		if err != nil {
			return err
		}
		if got := x.hdr.GetStateHeight(); got != height {
			return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf(
				"no committed header attests the state at height %d (the first header above it, of block %d, attests %d); ask for height %d", height, blk, got, got))
		}
	}
	bb.b.Height = height

	// The record.
	rp, err := bb.prove(lightclient.RecordKey(bb.id), height, blk)
	if err != nil {
		return err
	}
	if len(rp.GetValue()) == 0 {
		return notFound("record %q not found at height %d", bb.id, height)
	}
	rec := &pb.Record{}
	if err := proto.Unmarshal(rp.GetValue(), rec); err != nil {
		return fmt.Errorf("decode record %q: %w", bb.id, err)
	}
	n := rec.GetVersion()
	if n > lightclient.MaxVersions {
		return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf(
			"record %q has %d versions; a bundle holds at most lightclient.MaxVersions (%d)", bb.id, n, lightclient.MaxVersions))
	}
	bb.b.Record = rp

	// The access log at the same height, checked against its limit before
	// the versions are proven.
	cp, err := bb.prove(lightclient.AccessCountKey(bb.id), height, blk)
	if err != nil {
		return err
	}
	var count uint64
	if v := cp.GetValue(); len(v) > 0 {
		if len(v) != 8 {
			return fmt.Errorf("access counter of record %q is %d bytes", bb.id, len(v))
		}
		count = binary.BigEndian.Uint64(v)
	}
	if count > lightclient.MaxAccessEntries {
		return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf(
			"record %q has %d access entries; a bundle holds at most lightclient.MaxAccessEntries (%d)", bb.id, count, lightclient.MaxAccessEntries))
	}
	bb.b.AccessCount = cp

	// Each version at the height it was written (see RecordBundle).
	for v := uint64(1); v <= n; v++ {
		if err := bb.ctx.Err(); err != nil {
			return err
		}
		key := lightclient.RecordVersionKey(bb.id, v)
		value, _, err := bb.s.d.Ledger.GetWithProof(height, key)
		if err != nil {
			return fmt.Errorf("read version %d of record %q at height %d: %w", v, bb.id, height, err)
		}
		rv := &pb.RecordVersion{}
		if err := proto.Unmarshal(value, rv); err != nil {
			return fmt.Errorf("decode version %d of record %q: %w", v, bb.id, err)
		}
		w := rv.GetHeight()
		if w == 0 || w > height {
			return fmt.Errorf("version %d of record %q names height %d, the bundle's is %d", v, bb.id, w, height)
		}
		at := blk
		if w < height {
			if at, err = bb.attesting(w, w+1, blk); err != nil {
				return err
			}
		}
		x, err := bb.header(at)
		if err != nil {
			return err
		}
		vp, err := bb.prove(key, x.hdr.GetStateHeight(), at)
		if err != nil {
			return err
		}
		if !bytes.Equal(vp.GetValue(), value) {
			return fmt.Errorf("version %d of record %q differs at heights %d and %d: a version key was overwritten", v, bb.id, x.hdr.GetStateHeight(), height)
		}
		bb.b.Versions = append(bb.b.Versions, vp)
	}

	for seq := uint64(1); seq <= count; seq++ {
		if err := bb.ctx.Err(); err != nil {
			return err
		}
		ep, err := bb.prove(lightclient.AccessEntryKey(bb.id, seq), height, blk)
		if err != nil {
			return err
		}
		if len(ep.GetValue()) == 0 {
			return fmt.Errorf("access entry %d of record %q is missing at height %d, whose counter is %d", seq, bb.id, height, count)
		}
		bb.b.AccessEntries = append(bb.b.AccessEntries, ep)
	}

	// The validator sets in force after genesis up to the highest anchor,
	// blk, each proven at its root block (validatorSetProofs).
	sets, err := bb.s.validatorSetProofs(blk)
	if err != nil {
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("validator-set changes: %w", err))
	}
	for _, sp := range sets {
		hdr := &pb.Header{}
		if err := proto.Unmarshal(sp.GetHeader(), hdr); err != nil {
			return fmt.Errorf("decode the root header of a validator set: %w", err)
		}
		i, err := bb.anchor(hdr.GetHeight())
		if err != nil {
			return err
		}
		bp := &pb.BundleProof{Key: sp.GetKey(), Value: sp.GetValue(), Proof: sp.GetProof(), Anchor: i}
		if err := bb.grow(proto.Size(bp)); err != nil {
			return err
		}
		bb.b.ValidatorSets = append(bb.b.ValidatorSets, bp)
	}
	return nil
}
