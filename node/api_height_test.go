package node_test

// Queries at a past height (docs/ARCHITECTURE.md §6): QueryRecord,
// QueryIdentity and QueryState with height answer from the committed state
// after that height as it was then, with proofs against a committed header
// attesting exactly that height; heights above the newest attested state
// are refused with the newest height named.

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// heightHistory is a chain where record hist-1 gets versions 1, 2, 3 and
// identity citizen1 gets a credential, is suspended, loses that
// credential and gets another, and identity late-1 is registered, each at
// a height the test knows.
type heightHistory struct {
	c *nodetest.Chain
	n *nodetest.Node
	// before is the head before any of it; the other fields the heights
	// the txs committed at.
	before, v1, cred1, v2, susp, revoke, cred2, v3, reg uint64
}

func newHeightHistory(t *testing.T) *heightHistory {
	t.Helper()
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	off := c.Official
	hh := &heightHistory{c: c, n: n, before: n.Status(t).GetHeight()}
	at := func(body *pb.TxBody) uint64 { return n.CommitOK(t, off.Tx(body)).GetHeight() }
	issue := func(id string) *pb.TxBody {
		return &pb.TxBody{Action: &pb.TxBody_IssueCredential{IssueCredential: &pb.IssueCredential{
			CredentialId: id, SubjectId: "citizen1", CredentialType: "licence", Claims: []*pb.Attribute{{Name: "class", Value: id}},
		}}}
	}
	hh.v1 = at(nodetest.CreateRecord("hist-1", nodetest.BusinessLicense, "citizen0", []byte("version one")))
	hh.cred1 = at(issue("cred-a"))
	hh.v2 = at(nodetest.AmendRecord("hist-1", 1, []byte("version two"), "renewal"))
	hh.susp = at(&pb.TxBody{Action: &pb.TxBody_SetIdentityStatus{SetIdentityStatus: &pb.SetIdentityStatus{
		IdentityId: "citizen1", Status: pb.IdentityStatus_IDENTITY_STATUS_SUSPENDED, Reason: "audit"}}})
	hh.revoke = at(&pb.TxBody{Action: &pb.TxBody_RevokeCredential{RevokeCredential: &pb.RevokeCredential{CredentialId: "cred-a", Reason: "replaced"}}})
	hh.cred2 = at(issue("cred-b"))
	hh.v3 = at(nodetest.AmendRecord("hist-1", 2, []byte("version three"), "correction"))
	hh.reg = at(&pb.TxBody{Action: &pb.TxBody_RegisterSubject{RegisterSubject: &pb.RegisterSubject{
		IdentityId: "late-1", Kind: pb.IdentityKind_IDENTITY_KIND_CITIZEN, DisplayName: "late", PublicKey: exectest.NewKey("late-1").Public()}}})
	n.WaitIdle(t)
	return hh
}

// attested is the newest state height a committed header attests.
func attested(t *testing.T, n *nodetest.Node) (head, s uint64) {
	t.Helper()
	b, err := n.Client.GetBlock(ctxOf(t), req(&pb.GetBlockRequest{Latest: true}))
	if err != nil {
		t.Fatal(err)
	}
	return b.Msg.GetHeight(), b.Msg.GetHeader().GetStateHeight()
}

// provedAt checks p proves value (nil: absent) at key in the state after
// height h, against a committed header attesting h.
func provedAt(t *testing.T, n *nodetest.Node, h uint64, key []byte, p *pb.StateProof, obj proto.Message) {
	t.Helper()
	hdr := nodetest.VerifyStateProof(t, nodetest.ConsensusConfig(n.Status(t)), key, p)
	if hdr.GetStateHeight() != h || p.GetStateHeight() != h {
		t.Fatalf("proof at state height %d (header %d attests %d), asked %d", p.GetStateHeight(), hdr.GetHeight(), hdr.GetStateHeight(), h)
	}
	if obj == nil {
		if p.GetValue() != nil {
			t.Fatalf("absence proof at %d carries value %x", h, p.GetValue())
		}
		return
	}
	got := obj.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(p.GetValue(), got); err != nil || !proto.Equal(got, obj) {
		t.Fatalf("proved value at %d %v is not the returned object %v (%v)", h, got, obj, err)
	}
}

func TestQueryAtPastHeight(t *testing.T) {
	hh := newHeightHistory(t)
	n, ctx := hh.n, ctxOf(t)
	head, s := attested(t, n)
	if s < hh.reg {
		t.Fatalf("idle chain at %d attests %d, below the last tx at %d", head, s, hh.reg)
	}
	contents := []string{"version one", "version two", "version three"}
	count := func(q uint64, hs ...uint64) int {
		k := 0
		for _, h := range hs {
			if h <= q {
				k++
			}
		}
		return k
	}
	for q := hh.before; q <= s; q++ {
		if q == 0 {
			continue
		}
		t.Run(fmt.Sprintf("height %d", q), func(t *testing.T) {
			// The record and its versions as they were.
			want := count(q, hh.v1, hh.v2, hh.v3)
			r, err := n.Client.QueryRecord(ctx, req(&pb.QueryRecordRequest{RecordId: "hist-1", WithVersions: true, Prove: true, Height: q}))
			if want == 0 {
				nodetest.WantCode(t, err, connect.CodeNotFound)
				if !strings.Contains(err.Error(), fmt.Sprintf("at height %d", q)) {
					t.Errorf("NotFound does not name the height: %v", err)
				}
				// QueryState proves the absence at that height.
				st, err := n.Client.QueryState(ctx, req(&pb.QueryStateRequest{Key: exec.RecordKey("hist-1"), Prove: true, Height: q}))
				if err != nil || st.Msg.GetFound() || st.Msg.GetHeight() != q {
					t.Fatalf("QueryState of the record before it existed: %v %v", st, err)
				}
				provedAt(t, n, q, exec.RecordKey("hist-1"), st.Msg.GetProof(), nil)
			} else {
				if err != nil {
					t.Fatal(err)
				}
				m := r.Msg
				if m.GetHeight() != q || m.GetRecord().GetVersion() != uint64(want) || len(m.GetVersions()) != want {
					t.Fatalf("answer at %d: height %d, record version %d, %d versions; want version %d", q, m.GetHeight(), m.GetRecord().GetVersion(), len(m.GetVersions()), want)
				}
				for i, v := range m.GetVersions() {
					if v.GetVersion() != uint64(i+1) || string(v.GetContent()) != contents[i] || v.GetHeight() > q {
						t.Errorf("version %d at %d: %v", i+1, q, v)
					}
				}
				provedAt(t, n, q, exec.RecordKey("hist-1"), m.GetProof(), m.GetRecord())
				// QueryState agrees, and proves the version current then.
				vk := exec.RecordVersionKey("hist-1", uint64(want))
				st, err := n.Client.QueryState(ctx, req(&pb.QueryStateRequest{Key: vk, Prove: true, Height: q}))
				if err != nil || !st.Msg.GetFound() || !proto.Equal(msgOf(t, st.Msg.GetValue(), &pb.RecordVersion{}), m.GetVersions()[want-1]) {
					t.Fatalf("QueryState of version %d at %d: %v %v", want, q, st, err)
				}
				provedAt(t, n, q, vk, st.Msg.GetProof(), m.GetVersions()[want-1])
				// The next version did not exist yet.
				if want < 3 {
					next := exec.RecordVersionKey("hist-1", uint64(want+1))
					st, err := n.Client.QueryState(ctx, req(&pb.QueryStateRequest{Key: next, Prove: true, Height: q}))
					if err != nil || st.Msg.GetFound() {
						t.Fatalf("QueryState of version %d at %d: %v %v", want+1, q, st, err)
					}
					provedAt(t, n, q, next, st.Msg.GetProof(), nil)
				}
			}

			// The identity and its credentials as they were.
			id, err := n.Client.QueryIdentity(ctx, req(&pb.QueryIdentityRequest{IdentityId: "citizen1", Prove: true, Height: q}))
			if err != nil {
				t.Fatal(err)
			}
			wantStatus := pb.IdentityStatus_IDENTITY_STATUS_ACTIVE
			if q >= hh.susp {
				wantStatus = pb.IdentityStatus_IDENTITY_STATUS_SUSPENDED
			}
			if id.Msg.GetHeight() != q || id.Msg.GetIdentity().GetStatus() != wantStatus {
				t.Fatalf("identity at %d: %v, want status %v", q, id.Msg, wantStatus)
			}
			var creds []string
			for _, c := range id.Msg.GetCredentials() {
				creds = append(creds, fmt.Sprintf("%s revoked=%v", c.GetId(), c.GetRevoked()))
			}
			var wantCreds []string
			if q >= hh.cred1 {
				wantCreds = append(wantCreds, fmt.Sprintf("cred-a revoked=%v", q >= hh.revoke))
			}
			if q >= hh.cred2 {
				wantCreds = append(wantCreds, "cred-b revoked=false")
			}
			if strings.Join(creds, ", ") != strings.Join(wantCreds, ", ") {
				t.Fatalf("credentials at %d: %v, want %v", q, creds, wantCreds)
			}
			provedAt(t, n, q, exec.IdentityKey("citizen1"), id.Msg.GetProof(), id.Msg.GetIdentity())

			// An identity registered later did not exist yet.
			late, err := n.Client.QueryIdentity(ctx, req(&pb.QueryIdentityRequest{IdentityId: "late-1", Height: q}))
			if q < hh.reg {
				nodetest.WantCode(t, err, connect.CodeNotFound)
			} else if err != nil || late.Msg.GetIdentity().GetId() != "late-1" {
				t.Fatalf("late-1 at %d: %v %v", q, late, err)
			}
		})
	}

	t.Run("height 0 is the newest state", func(t *testing.T) {
		r, err := n.Client.QueryRecord(ctx, req(&pb.QueryRecordRequest{RecordId: "hist-1", WithVersions: true}))
		if err != nil || r.Msg.GetHeight() < head || len(r.Msg.GetVersions()) != 3 {
			t.Fatalf("QueryRecord without height: %v %v", r, err)
		}
	})

	t.Run("refused heights", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			h    uint64
			code connect.Code
			msg  string
		}{
			{"in the future", head + 5, connect.CodeOutOfRange, fmt.Sprintf("is in the future: the chain is at height %d, and the newest state a committed header attests is at height %d", head, s)},
			{"the largest height", math.MaxUint64, connect.CodeOutOfRange, "is in the future"},
			{"2^63", 1 << 63, connect.CodeOutOfRange, "is in the future"},
			{"not attested yet", s + 1, connect.CodeOutOfRange, fmt.Sprintf("is not attested yet: the newest state a committed header attests is at height %d", s)},
		} {
			if tc.h > head && tc.name == "not attested yet" {
				continue
			}
			_, err := n.Client.QueryRecord(ctx, req(&pb.QueryRecordRequest{RecordId: "hist-1", Prove: true, Height: tc.h}))
			nodetest.WantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.msg)
			}
			_, err = n.Client.QueryIdentity(ctx, req(&pb.QueryIdentityRequest{IdentityId: "citizen1", Height: tc.h}))
			nodetest.WantCode(t, err, tc.code)
			_, err = n.Client.QueryState(ctx, req(&pb.QueryStateRequest{Key: exec.RecordKey("hist-1"), Height: tc.h}))
			nodetest.WantCode(t, err, tc.code)
		}
		// Bad ids and keys are refused before the height is looked at.
		_, err := n.Client.QueryRecord(ctx, req(&pb.QueryRecordRequest{RecordId: "", Height: hh.v1}))
		nodetest.WantCode(t, err, connect.CodeInvalidArgument)
		_, err = n.Client.QueryIdentity(ctx, req(&pb.QueryIdentityRequest{IdentityId: "bad id!", Height: hh.v1}))
		nodetest.WantCode(t, err, connect.CodeInvalidArgument)
		_, err = n.Client.QueryState(ctx, req(&pb.QueryStateRequest{Key: bytes.Repeat([]byte("k"), 1025), Height: hh.v1}))
		nodetest.WantCode(t, err, connect.CodeInvalidArgument)
	})
}

func msgOf[T proto.Message](t *testing.T, b []byte, m T) T {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatalf("decode %T: %v", m, err)
	}
	return m
}

// A protected record's content at a past height: released as at any
// height, to an entitled authenticated caller once the access is logged,
// and it is the content of the versions that existed then.
func TestProtectedContentAtPastHeight(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{TLS: true})
	n := c.Start(t)
	subject := c.Citizens[0]
	body, p1 := protectedCreate(t, "bc-h", subject.ID, []byte("first content"))
	r1, err := submitWithPayload(t, n, c.Official.Tx(body), p1)
	if err != nil || r1.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK {
		t.Fatalf("create: %v %v", err, r1.GetResult())
	}
	salt, err := crypto.NewPayloadSalt()
	if err != nil {
		t.Fatal(err)
	}
	second := []byte("second content")
	p2 := &pb.Payload{Salt: salt, Content: second}
	r2, err := submitWithPayload(t, n, c.Official.Tx(&pb.TxBody{Action: &pb.TxBody_AmendRecord{AmendRecord: &pb.AmendRecord{
		RecordId: "bc-h", ExpectedVersion: 1, ContentHash: crypto.Ed25519SHA256.PayloadCommitment(salt, second), Reason: "correction",
	}}}), p2)
	if err != nil || r2.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK {
		t.Fatalf("amend: %v %v", err, r2.GetResult())
	}
	n.WaitIdle(t)
	ask := func(cl govnodev1connect.NodeServiceClient, h uint64, versions bool) (*pb.QueryRecordResponse, error) {
		resp, err := cl.QueryRecord(ctxOf(t), req(&pb.QueryRecordRequest{RecordId: "bc-h", IncludeContent: true, WithVersions: versions,
			Purpose: "check my record then", Height: h}))
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	}

	// Anonymous: refused at a past height too, nothing logged.
	_, err = ask(n.Client, r1.GetHeight(), false)
	nodetest.WantCode(t, err, connect.CodePermissionDenied)
	if log := accessLog(t, n, subject.ID); len(log) != 0 {
		t.Fatalf("a refused read was logged: %v", log)
	}

	// The subject at the first version's height: that version's content.
	got, err := ask(n.ClientAs(t, subject), r1.GetHeight(), false)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetHeight() != r1.GetHeight() || got.GetRecord().GetVersion() != 1 || len(got.GetContents()) != 1 ||
		got.GetContents()[0].GetVersion() != 1 || !bytes.Equal(got.GetContents()[0].GetPayload().GetContent(), []byte("first content")) {
		t.Fatalf("content at height %d: %v", r1.GetHeight(), got)
	}
	if got.GetAccess().GetHeight() <= r2.GetHeight() {
		t.Fatalf("no access committed for the release: %v", got.GetAccess())
	}
	// With versions at the second's height: both.
	got, err = ask(n.ClientAs(t, subject), r2.GetHeight(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.GetContents()) != 2 || !bytes.Equal(got.GetContents()[1].GetPayload().GetContent(), second) {
		t.Fatalf("contents at height %d with versions: %v", r2.GetHeight(), got.GetContents())
	}
	if log := accessLog(t, n, subject.ID); len(log) != 2 {
		t.Fatalf("access log after two releases: %v", log)
	}
}
