package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// lastAccepted returns the last transaction the fake accepted, after
// checking its signature again, independently of the fake's own check.
func lastAccepted(t *testing.T, f *fakeChain) acceptedTx {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.accepted) == 0 {
		t.Fatal("no transaction reached the node")
	}
	a := f.accepted[len(f.accepted)-1]
	stx := &pb.SignedTx{}
	if err := proto.Unmarshal(a.raw, stx); err != nil {
		t.Fatal(err)
	}
	if err := crypto.Verify(f.keys[a.body.GetSigner()], crypto.TxSignBytes(f.chainID, stx.GetBody()), stx.GetSignature()); err != nil {
		t.Fatalf("signature of the sent tx does not verify: %v", err)
	}
	return a
}

func TestTxRecordCreateSignedAndNonces(t *testing.T) {
	dir, sum, f := testnetFixture(t, 2)
	addr := f.serve(t, 0)
	off := sum.Nodes[1].Official
	content := filepath.Join(t.TempDir(), "deed.json")
	writeFile(t, content, `{"parcel":"12-34"}`)

	r := mustRun(t, nil, "tx", "record", "create", "--testnet", dir, "--signer", off.ID, "--node", addr, "--wait",
		"--id", "title-1", "--type", "land_title", "--subject", "account0", "--content-file", content,
		"--content-type", "application/json", "--meta", "district=north", "--memo", "first", "--output", "json")
	a := lastAccepted(t, f)
	b := a.body
	if b.GetChainId() != sum.ChainID || b.GetSigner() != off.ID || b.GetNonce() != 1 || b.GetMemo() != "first" {
		t.Fatalf("envelope: %v", b)
	}
	cr := b.GetCreateRecord()
	if cr == nil || cr.GetRecordId() != "title-1" || cr.GetRecordType() != "land_title" || cr.GetSubjectId() != "account0" ||
		string(cr.GetContent()) != `{"parcel":"12-34"}` || cr.GetContentType() != "application/json" ||
		len(cr.GetMetadata()) != 1 || cr.GetMetadata()[0].GetName() != "district" || cr.GetMetadata()[0].GetValue() != "north" {
		t.Fatalf("action: %v", b.GetAction())
	}
	m := jsonObject(t, r.out)
	if m["tx_hash"] != hex.EncodeToString(crypto.Ed25519SHA256.Hash(a.raw)) || m["committed"] != true || m["height"] != float64(1) ||
		m["nonce"] != float64(1) || m["action"] != "create_record" || m["code"] != "RESULT_CODE_OK" {
		t.Errorf("tx json: %s", r.out)
	}

	// The next tx takes nonce 2 from the node's state.
	sha := sha256.Sum256([]byte("v2"))
	r = mustRun(t, nil, "tx", "record", "amend", "--testnet", dir, "--signer", off.ID, "--node", addr,
		"--id", "title-1", "--expected-version", "1", "--content", "v2", "--content-hash", hex.EncodeToString(sha[:]), "--reason", "survey")
	a = lastAccepted(t, f)
	if a.body.GetNonce() != 2 || a.body.GetAmendRecord().GetExpectedVersion() != 1 || string(a.body.GetAmendRecord().GetContentHash()) != string(sha[:]) {
		t.Errorf("amend body: %v", a.body)
	}
	if !strings.Contains(r.out, "tx "+hex.EncodeToString(crypto.Ed25519SHA256.Hash(a.raw))) || !strings.Contains(r.out, "nonce 2") {
		t.Errorf("text output: %s", r.out)
	}

	// An explicit wrong nonce: the node's refusal is the error.
	r = run(t, nil, "tx", "record", "revoke", "--testnet", dir, "--signer", off.ID, "--node", addr, "--id", "title-1", "--nonce", "7")
	if r.err == nil || !strings.Contains(r.err.Error(), "invalid_argument: nonce 7, signer dept1-official expects 3") {
		t.Errorf("wrong nonce: %v", r.err)
	}
}

func TestTxActionsBuildRightBodies(t *testing.T) {
	dir, sum, f := testnetFixture(t, 1)
	addr := f.serve(t, 0)
	admin, off, cit := sum.Nodes[0].Admin.ID, sum.Nodes[0].Official.ID, sum.Accounts[0].ID
	newKey := sum.Accounts[1].Key
	rtFile := writeFile(t, filepath.Join(t.TempDir(), "rt.json"), `{"id":"permit","name":"Permit","createDepartments":["dept0"],"maxContentBytes":512,"onChainContent":true}`)
	paramsFile := writeFile(t, filepath.Join(t.TempDir(), "p.json"), `{"maxBlockTxs":"1000"}`)
	for _, tc := range []struct {
		args  []string
		check func(b *pb.TxBody) bool
	}{
		{[]string{"identity", "register-subject", "--signer", off, "--id", "cit9", "--kind", "company", "--public-key", newKey, "--attr", "vat=123"},
			func(b *pb.TxBody) bool {
				a := b.GetRegisterSubject()
				return a.GetKind() == pb.IdentityKind_IDENTITY_KIND_COMPANY && a.GetPublicKey().GetScheme() == pb.KeyScheme_KEY_SCHEME_ED25519 &&
					len(a.GetPublicKey().GetKey()) == 32 && a.GetAttributes()[0].GetValue() == "123"
			}},
		{[]string{"identity", "register-official", "--signer", admin, "--id", "o2", "--department", "dept0", "--role", "issuer", "--role", "auditor",
			"--public-key", newKey, "--issuer-record-type", "land_title"},
			func(b *pb.TxBody) bool {
				a := b.GetRegisterOfficial()
				return len(a.GetRoles()) == 2 && a.GetRoles()[0] == pb.Role_ROLE_ISSUER && a.GetRoles()[1] == pb.Role_ROLE_AUDITOR && a.GetIssuerRecordTypes()[0] == "land_title"
			}},
		{[]string{"identity", "set-status", "--signer", off, "--id", cit, "--status", "suspended", "--reason", "fraud"},
			func(b *pb.TxBody) bool {
				return b.GetSetIdentityStatus().GetStatus() == pb.IdentityStatus_IDENTITY_STATUS_SUSPENDED
			}},
		{[]string{"identity", "issue-credential", "--signer", off, "--id", "cr1", "--subject", cit, "--type", "driver", "--claim", "class=B", "--expires-at", "2030-01-01T00:00:00Z"},
			func(b *pb.TxBody) bool {
				return b.GetIssueCredential().GetExpiresAt() == 1893456000 && b.GetIssueCredential().GetClaims()[0].GetName() == "class"
			}},
		{[]string{"record", "consent-transfer", "--signer", cit, "--id", "t1", "--new-holder", "account1", "--valid-until", "1900000000"},
			func(b *pb.TxBody) bool {
				return b.GetConsentTransfer().GetValidUntil() == 1900000000 && b.GetConsentTransfer().GetNewHolderId() == "account1"
			}},
		{[]string{"record", "access", "--signer", off, "--id", "t1", "--purpose", "audit", "--legal-basis", "Act 5"},
			func(b *pb.TxBody) bool { return b.GetAccessRecord().GetLegalBasis() == "Act 5" }},
		{[]string{"contract", "create", "--signer", off, "--id", "k1", "--template", "procurement", "--party", "buyer=" + off, "--party", "supplier=" + cit,
			"--field", "amount=int:5000", "--field", "item=chairs", "--field", "urgent=bool:true"},
			func(b *pb.TxBody) bool {
				a := b.GetCreateContract()
				return len(a.GetParties()) == 2 && a.GetParties()[1].GetIdentityId() == cit && a.GetFields()[0].GetIntValue() == 5000 &&
					a.GetFields()[1].GetStringValue() == "chairs" && a.GetFields()[2].GetBoolValue()
			}},
		{[]string{"contract", "fire", "--signer", off, "--id", "k1", "--transition", "cancel", "--arg", "why=late"},
			func(b *pb.TxBody) bool { return b.GetFireTransition().GetArgs()[0].GetStringValue() == "late" }},
		{[]string{"gov", "propose", "record-type", "--signer", admin, "--id", "p1", "--voting-end-height", "100", "--file", rtFile},
			func(b *pb.TxBody) bool {
				p := b.GetSubmitProposal()
				return p.GetVotingEndHeight() == 100 && p.GetInstallRecordType().GetId() == "permit" && p.GetInstallRecordType().GetMaxContentBytes() == 512
			}},
		{[]string{"gov", "propose", "params", "--signer", admin, "--id", "p2", "--voting-end-height", "100", "--file", paramsFile},
			func(b *pb.TxBody) bool { return b.GetSubmitProposal().GetUpdateParams().GetMaxBlockTxs() == 1000 }},
		{[]string{"gov", "vote", "--signer", admin, "--proposal", "p1", "--vote", "yes"},
			func(b *pb.TxBody) bool {
				return b.GetVoteProposal().GetApprove() && b.GetVoteProposal().GetProposalId() == "p1"
			}},
	} {
		args := append([]string{"tx"}, tc.args...)
		args = append(args, "--testnet", dir, "--node", addr)
		mustRun(t, nil, args...)
		a := lastAccepted(t, f)
		if !tc.check(a.body) {
			t.Errorf("govnode %s: body %v", strings.Join(tc.args[:2], " "), a.body)
		}
	}
}

func TestTxErrors(t *testing.T) {
	dir, sum, f := testnetFixture(t, 1)
	addr := f.serve(t, 0)
	off := sum.Nodes[0].Official.ID
	badJSON := writeFile(t, filepath.Join(t.TempDir(), "bad.json"), `{"nope":1}`)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tx", "record", "revoke", "--id", "r", "--node", addr, "--key", sum.Nodes[0].Official.Key}, "--signer is required"},
		{[]string{"tx", "record", "revoke", "--id", "r", "--node", addr, "--signer", off}, "--key is required"},
		{[]string{"tx", "record", "revoke", "--node", addr, "--testnet", dir, "--signer", off}, `required flag(s) "id" not set`},
		{[]string{"tx", "record", "revoke", "--id", "r", "--testnet", dir, "--signer", "ghost"}, "not an identity of the test network"},
		{[]string{"tx", "record", "create", "--id", "r", "--type", "t", "--subject", "s", "--testnet", dir, "--signer", off, "--node", addr}, "give --content"},
		{[]string{"tx", "record", "create", "--id", "r", "--type", "t", "--subject", "s", "--content", "x", "--content-hash", "00", "--testnet", dir, "--signer", off}, "want 32"},
		{[]string{"tx", "record", "grant", "--grant-id", "g", "--department", "d", "--testnet", dir, "--signer", off}, "exactly one of --record-id and --record-type"},
		{[]string{"tx", "record", "amend", "--id", "r", "--expected-version", "0", "--content", "x", "--testnet", dir, "--signer", off}, "versions start at 1"},
		{[]string{"tx", "identity", "set-status", "--id", "x", "--status", "asleep", "--testnet", dir, "--signer", off}, "want active, suspended or revoked"},
		{[]string{"tx", "identity", "register-subject", "--id", "x", "--public-key", "ed25519:!!", "--testnet", dir, "--signer", off}, "--public-key"},
		{[]string{"tx", "identity", "register-official", "--id", "x", "--department", "d", "--public-key", sum.Nodes[0].Official.Key, "--role", "king", "--testnet", dir, "--signer", off}, "--role \"king\""},
		{[]string{"tx", "contract", "create", "--id", "k", "--template", "t", "--party", "buyer", "--testnet", dir, "--signer", off}, "want role=identity"},
		{[]string{"tx", "contract", "create", "--id", "k", "--template", "t", "--party", "b=x", "--field", "n=int:x", "--testnet", dir, "--signer", off}, "bad int"},
		{[]string{"tx", "gov", "propose", "params", "--id", "p", "--voting-end-height", "9", "--file", badJSON, "--testnet", dir, "--signer", off}, "not a Params in JSON"},
		{[]string{"tx", "gov", "vote", "--proposal", "p", "--vote", "maybe", "--testnet", dir, "--signer", off}, "want yes or no"},
		{[]string{"tx", "record", "revoke", "--id", "r", "--testnet", dir, "--signer", off, "--node", addr, "--nonce", "0"}, "nonces start at 1"},
		{[]string{"tx", "record", "revoke", "--id", "r", "--testnet", dir, "--signer", off, "--node", "127.0.0.1:1"}, "unavailable"},
	} {
		r := run(t, nil, tc.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("govnode %s:\n err %v\nwant %q", strings.Join(tc.args, " "), r.err, tc.want)
		}
	}

	// A refusal by the node carries its code and message.
	f.submitErr = connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("mempool full"))
	r := run(t, nil, "tx", "record", "revoke", "--id", "r", "--testnet", dir, "--signer", off, "--node", addr)
	if r.err == nil || !strings.Contains(r.err.Error(), "resource_exhausted: mempool full") {
		t.Errorf("refused tx: %v", r.err)
	}
	f.submitErr = nil

	// A committed tx whose action failed is an error, after printing it.
	f.mu.Lock()
	f.nextResult = &pb.TxResult{Code: pb.ResultCode_RESULT_CODE_UNAUTHORIZED, Reason: "not yours"}
	f.mu.Unlock()
	r = run(t, nil, "tx", "record", "revoke", "--id", "r", "--testnet", dir, "--signer", off, "--node", addr, "--wait")
	if r.err == nil || !strings.Contains(r.err.Error(), "action failed: RESULT_CODE_UNAUTHORIZED: not yours") {
		t.Errorf("failed action: %v", r.err)
	}
	if !strings.Contains(r.out, "committed at height") {
		t.Errorf("failed action output: %s", r.out)
	}
}

func TestTxEncryptedKeyFile(t *testing.T) {
	f := newFakeChain("c1")
	addr := f.serve(t, 0)
	keyPath := filepath.Join(t.TempDir(), "alice.key")
	env := map[string]string{envPassphrase: "correct horse"}
	mustRun(t, env, "keys", "new", keyPath, fastScrypt)
	info, err := keystore.LoadPublic(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	f.keys["alice"] = info.PublicKey
	mustRun(t, env, "tx", "contract", "sign", "--id", "k1", "--key", keyPath, "--signer", "alice", "--node", addr)
	if a := lastAccepted(t, f); a.body.GetSignContract().GetContractId() != "k1" {
		t.Errorf("body %v", a.body)
	}
	r := run(t, map[string]string{envPassphrase: "wrong"}, "tx", "contract", "sign", "--id", "k1", "--key", keyPath, "--signer", "alice", "--node", addr)
	if r.err == nil || !strings.Contains(r.err.Error(), "wrong passphrase") {
		t.Errorf("wrong passphrase: %v", r.err)
	}
	pf := writeFile(t, filepath.Join(t.TempDir(), "pass"), "correct horse\n")
	mustRun(t, nil, "tx", "contract", "sign", "--id", "k2", "--key", keyPath, "--signer", "alice", "--node", addr, "--passphrase-file", pf)
	if a := lastAccepted(t, f); a.body.GetNonce() != 2 {
		t.Errorf("second tx nonce %d", a.body.GetNonce())
	}
	if _, err := os.Stat(keyPath); err != nil {
		t.Fatal(err)
	}
}
