package genesis

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func pubKey(t *testing.T) *pb.PublicKey {
	t.Helper()
	k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

func peerID(t *testing.T) string {
	t.Helper()
	_, pub, err := lcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// validDoc is a 4-department byzantine genesis with no warnings.
func validDoc(t *testing.T) *pb.GenesisDoc {
	t.Helper()
	doc := New("test-chain", FaultByzantine, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	var depts []string
	for i := range 4 {
		id := fmt.Sprintf("dept%d", i)
		depts = append(depts, id)
		doc.Validators = append(doc.Validators, &pb.Department{
			Id: id, Name: "Department " + id, ConsensusKey: pubKey(t), PeerId: peerID(t),
			Addrs: []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 26656+10*i)},
		})
		doc.Identities = append(doc.Identities, &pb.Identity{
			Id: id + "-admin", Kind: pb.IdentityKind_IDENTITY_KIND_OFFICIAL, DepartmentId: id, DisplayName: "Admin of " + id,
			PublicKey: pubKey(t), Roles: []pb.Role{pb.Role_ROLE_ADMIN}, Status: pb.IdentityStatus_IDENTITY_STATUS_ACTIVE,
		})
	}
	doc.Identities = append(doc.Identities,
		&pb.Identity{Id: "clerk", Kind: pb.IdentityKind_IDENTITY_KIND_OFFICIAL, DepartmentId: "dept1", DisplayName: "Clerk", PublicKey: pubKey(t),
			Roles: []pb.Role{pb.Role_ROLE_ISSUER, pb.Role_ROLE_REGISTRAR}, IssuerRecordTypes: []string{"land_title"}},
		&pb.Identity{Id: "alice", Kind: pb.IdentityKind_IDENTITY_KIND_CITIZEN, DepartmentId: "dept0", DisplayName: "Alice Ångström-Øre", PublicKey: pubKey(t)},
	)
	doc.RecordTypes = []*pb.RecordType{
		{Id: "land_title", Name: "Land title", CreateDepartments: depts, TransferDepartments: []string{"dept0"},
			Transferable: true, TransferNeedsConsent: true, OnChainContent: true, MaxContentBytes: 1024},
		{Id: "birth_certificate", CreateDepartments: []string{"dept1"}, AccessNeedsConsent: true},
	}
	doc.ContractTemplates = []*pb.ContractTemplate{{
		Id: "procurement", Roles: []string{"buyer", "supplier"}, FieldNames: []string{"amount"},
		DraftState: "draft", ActiveState: "active", FinalStates: []string{"done", "cancelled"},
		Transitions: []*pb.Transition{
			{Name: "deliver", From: []string{"active"}, To: "delivered", Roles: []string{"supplier"},
				Set: []*pb.FieldAssignment{{Field: "amount", Expr: "args.amount"}}},
			{Name: "accept", From: []string{"delivered"}, To: "done", Roles: []string{"buyer"}, Guard: "true"},
			{Name: "cancel", From: []string{"draft", "active"}, To: "cancelled", Roles: []string{"buyer"}},
			{Name: "expire", From: []string{"active"}, To: "cancelled"},
		},
		Deadlines:  []*pb.Deadline{{State: "active", At: "fields.deadline", Transition: "expire"}},
		Milestones: []*pb.MilestoneSpec{{Id: "m1", SubmitterRole: "supplier", AcceptorRole: "buyer", State: "active"}},
	}}
	return doc
}

// withMoney adds opening budgets and a money template (the tender
// template, contract_templates[1]) to a valid doc, then mutate.
func withMoney(mutate func(d *pb.GenesisDoc)) func(t *testing.T, d *pb.GenesisDoc) {
	return func(t *testing.T, d *pb.GenesisDoc) {
		d.ContractTemplates = append(d.ContractTemplates, exec.TenderTemplate())
		d.Budgets = []*pb.Budget{{DepartmentId: "dept0", Balance: 1_000_000_00}, {DepartmentId: "dept2", Balance: 5, Funded: 5}}
		mutate(d)
	}
}

func TestValidBudgetsAndMoneyTemplate(t *testing.T) {
	doc := validDoc(t)
	withMoney(func(*pb.GenesisDoc) {})(t, doc)
	warns, err := Validate(doc)
	if err != nil || len(warns) != 0 {
		t.Fatalf("Validate: %v, warnings %v", err, warns)
	}
}

func TestValidDocHasNoProblems(t *testing.T) {
	warns, err := Validate(validDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Fatalf("warnings: %v", warns)
	}
}

// TestValidateErrors checks each bad input is refused with the field path
// and a reason naming the problem.
func TestValidateErrors(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(t *testing.T, d *pb.GenesisDoc)
		field  string
		reason string
	}{
		{"empty chain id", func(t *testing.T, d *pb.GenesisDoc) { d.ChainId = "" }, "chain_id", "empty"},
		{"chain id bad chars", func(t *testing.T, d *pb.GenesisDoc) { d.ChainId = "a/b c" }, "chain_id", "character '/' at byte 1 not allowed"},
		{"chain id uppercase", func(t *testing.T, d *pb.GenesisDoc) { d.ChainId = "Test-chain" }, "chain_id", "uppercase 'T' at byte 0: ids are lowercase"},
		{"chain id too long", func(t *testing.T, d *pb.GenesisDoc) { d.ChainId = strings.Repeat("a", 65) }, "chain_id", "65 bytes, a chain id's limit is 64"},
		{"genesis time not rfc3339", func(t *testing.T, d *pb.GenesisDoc) { d.GenesisTime = "2026-01-02 03:04" }, "genesis_time", "not an RFC 3339 time"},
		{"genesis time empty", func(t *testing.T, d *pb.GenesisDoc) { d.GenesisTime = "" }, "genesis_time", "empty"},
		{"unknown fault model", func(t *testing.T, d *pb.GenesisDoc) { d.FaultModel = "paxos" }, "fault_model", "unknown fault model"},
		{"params missing", func(t *testing.T, d *pb.GenesisDoc) { d.Params = nil }, "params", "missing"},
		{"zero propose timeout", func(t *testing.T, d *pb.GenesisDoc) { d.Params.ProposeTimeoutMs = 0 }, "params.propose_timeout_ms", "0 is out of range [100, 600000]"},
		{"zero view timeout", func(t *testing.T, d *pb.GenesisDoc) { d.Params.MaxViewTimeoutMs = 0 }, "params.max_view_timeout_ms", "0 is out of range [100, 600000]"},
		{"view timeout below propose", func(t *testing.T, d *pb.GenesisDoc) { d.Params.MaxViewTimeoutMs = d.Params.ProposeTimeoutMs - 1 },
			"params.max_view_timeout_ms", "below propose_timeout_ms"},
		{"heartbeat not below timeout", func(t *testing.T, d *pb.GenesisDoc) { d.Params.HeartbeatIntervalMs = d.Params.ProposeTimeoutMs },
			"params.heartbeat_interval_ms", "below propose_timeout_ms"},
		{"block smaller than tx", func(t *testing.T, d *pb.GenesisDoc) {
			d.Params.MaxTxBytes = 2 << 20
			d.Params.MaxBlockBytes = 2<<20 - 1
		},
			"params.max_block_bytes", "below max_tx_bytes"},
		{"block too big", func(t *testing.T, d *pb.GenesisDoc) { d.Params.MaxBlockBytes = exec.MaxMaxBlockBytes + 1 }, "params.max_block_bytes", "out of range [1048576, 15728640]"},
		{"zero tx bytes", func(t *testing.T, d *pb.GenesisDoc) { d.Params.MaxTxBytes = 0 }, "params.max_tx_bytes", "out of range [65536, 4194304]"},
		{"one-byte txs", func(t *testing.T, d *pb.GenesisDoc) { d.Params.MaxTxBytes = 1 }, "params.max_tx_bytes", "1 is out of range [65536, 4194304]: the largest governance transaction must fit"},
		{"zero block txs", func(t *testing.T, d *pb.GenesisDoc) { d.Params.MaxBlockTxs = 0 }, "params.max_block_txs", "out of range [64, 100000]"},
		{"zero change delay", func(t *testing.T, d *pb.GenesisDoc) { d.Params.ValidatorChangeDelay = 0 }, "params.validator_change_delay", "out of range [1, 10000]"},
		{"no validators", func(t *testing.T, d *pb.GenesisDoc) { d.Validators = nil; d.Identities = nil; d.RecordTypes = nil },
			"validators", "at least 1"},
		{"duplicate department", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[2].Id = "dept1" }, "validators[2].id", "duplicate department id"},
		{"validator listed twice", func(t *testing.T, d *pb.GenesisDoc) {
			d.Validators = append(d.Validators, proto.Clone(d.Validators[0]).(*pb.Department))
		}, "validators[4].id", "duplicate"},
		{"duplicate validator key", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[3].ConsensusKey = d.Validators[0].ConsensusKey },
			"validators[3].consensus_key", "duplicate validator key"},
		{"duplicate peer id", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[1].PeerId = d.Validators[0].PeerId }, "validators[1].peer_id", "duplicate peer id"},
		{"bad key encoding", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[0].ConsensusKey.Key = []byte{1, 2, 3} },
			"validators[0].consensus_key", "bad key encoding"},
		{"unknown key scheme", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[0].ConsensusKey.Scheme = 99 }, "validators[0].consensus_key", "unknown key scheme"},
		{"missing consensus key", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[0].ConsensusKey = nil }, "validators[0].consensus_key", "missing public key"},
		{"peer id not decodable", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[0].PeerId = "not-a-peer" }, "validators[0].peer_id", "not a libp2p peer id"},
		{"empty peer id", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[0].PeerId = "" }, "validators[0].peer_id", "empty"},
		{"addr /p2p does not match peer id", func(t *testing.T, d *pb.GenesisDoc) {
			d.Validators[0].Addrs = []string{"/ip4/127.0.0.1/tcp/1/p2p/" + d.Validators[1].PeerId}
		}, "validators[0].addrs[0]", "does not match peer_id"},
		{"bad multiaddr", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[0].Addrs = []string{"127.0.0.1:26656"} }, "validators[0].addrs[0]", "not a multiaddr"},
		{"empty department name", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[0].Name = " " }, "validators[0].name", "empty"},
		{"duplicate identity", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[1].Id = d.Identities[0].Id }, "identities[1].id", "duplicate identity id"},
		{"identity unknown department", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].DepartmentId = "dept9" }, "identities[5].department_id", "unknown department"},
		{"identity missing key", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].PublicKey = nil }, "identities[5].public_key", "missing key"},
		{"identity bad key", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].PublicKey.Key = []byte{1} }, "identities[5].public_key", "bad key encoding"},
		{"identity duplicate key", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].PublicKey = d.Identities[4].PublicKey }, "identities[5].public_key", "duplicate public key"},
		{"identity no kind", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].Kind = 0 }, "identities[5].kind", "must be"},
		{"citizen with role", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].Roles = []pb.Role{pb.Role_ROLE_ADMIN} }, "identities[5].roles[0]", "only officials"},
		{"duplicate role", func(t *testing.T, d *pb.GenesisDoc) {
			d.Identities[0].Roles = []pb.Role{pb.Role_ROLE_ADMIN, pb.Role_ROLE_ADMIN}
		},
			"identities[0].roles[1]", "duplicate role"},
		{"unspecified role", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[0].Roles = append(d.Identities[0].Roles, 0) }, "identities[0].roles[1]", "unknown role"},
		{"revoked identity", func(t *testing.T, d *pb.GenesisDoc) {
			d.Identities[5].Status = pb.IdentityStatus_IDENTITY_STATUS_REVOKED
		},
			"identities[5].status", "must be active"},
		{"issuer unknown record type", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[4].IssuerRecordTypes = []string{"visa"} },
			"identities[4].issuer_record_types[0]", "unknown record type"},
		{"issuer types without issuer role", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[4].Roles = []pb.Role{pb.Role_ROLE_REGISTRAR} },
			"identities[4].issuer_record_types", "without ROLE_ISSUER"},
		{"duplicate record type", func(t *testing.T, d *pb.GenesisDoc) { d.RecordTypes[1].Id = "land_title" }, "record_types[1].id", "duplicate record type"},
		{"record type unknown department", func(t *testing.T, d *pb.GenesisDoc) { d.RecordTypes[1].CreateDepartments = []string{"dept7"} },
			"record_types[1].create_departments[0]", "unknown department"},
		{"record type unknown revoke department", func(t *testing.T, d *pb.GenesisDoc) { d.RecordTypes[0].RevokeDepartments = []string{"x"} },
			"record_types[0].revoke_departments[0]", "unknown department"},
		{"consent without transferable", func(t *testing.T, d *pb.GenesisDoc) { d.RecordTypes[0].Transferable = false },
			"record_types[0].transfer_needs_consent", "not transferable"},
		{"content above tx size", func(t *testing.T, d *pb.GenesisDoc) {
			d.RecordTypes[0].MaxContentBytes = uint32(d.Params.MaxTxBytes) + 1
		},
			"record_types[0].max_content_bytes", "above params.max_tx_bytes"},
		{"duplicate template", func(t *testing.T, d *pb.GenesisDoc) {
			d.ContractTemplates = append(d.ContractTemplates, proto.Clone(d.ContractTemplates[0]).(*pb.ContractTemplate))
		}, "contract_templates[1].id", "duplicate contract template"},
		{"template no draft", func(t *testing.T, d *pb.GenesisDoc) { d.ContractTemplates[0].DraftState = "" }, "contract_templates[0].draft_state", "empty"},
		{"template active is draft", func(t *testing.T, d *pb.GenesisDoc) { d.ContractTemplates[0].ActiveState = "draft" },
			"contract_templates[0].active_state", "same as draft_state"},
		{"transition from unknown state", func(t *testing.T, d *pb.GenesisDoc) { d.ContractTemplates[0].Transitions[1].From = []string{"limbo"} },
			"contract_templates[0].transitions[1].from[0]", "never entered"},
		{"transition from final state", func(t *testing.T, d *pb.GenesisDoc) {
			d.ContractTemplates[0].Transitions[1].From = []string{"cancelled"}
		},
			"contract_templates[0].transitions[1].from[0]", "final state"},
		{"final state unreachable", func(t *testing.T, d *pb.GenesisDoc) {
			d.ContractTemplates[0].FinalStates = append(d.ContractTemplates[0].FinalStates, "archived")
		}, "contract_templates[0].final_states[2]", "not the target of any transition"},
		{"duplicate transition", func(t *testing.T, d *pb.GenesisDoc) { d.ContractTemplates[0].Transitions[1].Name = "deliver" },
			"contract_templates[0].transitions[1].name", "duplicate transition"},
		{"transition unknown role", func(t *testing.T, d *pb.GenesisDoc) {
			d.ContractTemplates[0].Transitions[0].Roles = []string{"auditor"}
		},
			"contract_templates[0].transitions[0].roles[0]", "unknown role"},
		{"transition sets unknown field", func(t *testing.T, d *pb.GenesisDoc) { d.ContractTemplates[0].Transitions[0].Set[0].Field = "price" },
			"contract_templates[0].transitions[0].set[0].field", "unknown field"},
		{"transition to draft", func(t *testing.T, d *pb.GenesisDoc) { d.ContractTemplates[0].Transitions[3].To = "draft" },
			"contract_templates[0].transitions[3].to", "draft state"},
		{"deadline unknown transition", func(t *testing.T, d *pb.GenesisDoc) { d.ContractTemplates[0].Deadlines[0].Transition = "explode" },
			"contract_templates[0].deadlines[0].transition", "unknown transition"},
		{"deadline transition not from state", func(t *testing.T, d *pb.GenesisDoc) { d.ContractTemplates[0].Deadlines[0].Transition = "accept" },
			"contract_templates[0].deadlines[0].transition", "does not leave state"},
		{"deadline unknown state", func(t *testing.T, d *pb.GenesisDoc) { d.ContractTemplates[0].Deadlines[0].State = "nowhere" },
			"contract_templates[0].deadlines[0].state", "unknown state"},
		{"milestone unknown role", func(t *testing.T, d *pb.GenesisDoc) { d.ContractTemplates[0].Milestones[0].AcceptorRole = "judge" },
			"contract_templates[0].milestones[0].acceptor_role", "unknown role"},
		{"duplicate template role", func(t *testing.T, d *pb.GenesisDoc) {
			d.ContractTemplates[0].Roles = []string{"buyer", "buyer", "supplier"}
		},
			"contract_templates[0].roles[1]", "duplicate role"},
		// Budgets and money templates (ARCHITECTURE.md §5, "Budgets and payments").
		{"budget of unknown department", withMoney(func(d *pb.GenesisDoc) { d.Budgets[0].DepartmentId = "dept9" }), "budgets[0].department_id", `unknown department "dept9"`},
		{"budget without department", withMoney(func(d *pb.GenesisDoc) { d.Budgets[0].DepartmentId = "" }), "budgets[0].department_id", "empty"},
		{"budget twice", withMoney(func(d *pb.GenesisDoc) { d.Budgets[1].DepartmentId = "dept0" }), "budgets[1].department_id", "duplicate budget"},
		{"budget zero", withMoney(func(d *pb.GenesisDoc) { d.Budgets[0].Balance = 0 }), "budgets[0].balance", "> 0"},
		{"budget negative", withMoney(func(d *pb.GenesisDoc) { d.Budgets[0].Balance = -1 }), "budgets[0].balance", "> 0"},
		{"budget funded differs", withMoney(func(d *pb.GenesisDoc) { d.Budgets[1].Funded = 9 }), "budgets[1].funded", "differs"},
		{"budget with height", withMoney(func(d *pb.GenesisDoc) { d.Budgets[1].UpdatedHeight = 2 }), "budgets[1].updated_height", "empty"},
		{"budget null", withMoney(func(d *pb.GenesisDoc) { d.Budgets[0] = nil }), "budgets[0]", "null"},
		{"money template unknown amount field", withMoney(func(d *pb.GenesisDoc) { d.ContractTemplates[1].AmountField = "price" }),
			"contract_templates[1].amount_field", `unknown field "price"`},
		{"money template without supplier role", withMoney(func(d *pb.GenesisDoc) { d.ContractTemplates[1].SupplierRole = "" }),
			"contract_templates[1].supplier_role", "all three or none"},
		{"money template shares over the amount", withMoney(func(d *pb.GenesisDoc) { d.ContractTemplates[1].Milestones[0].PaymentBps = 9000 }),
			"contract_templates[1].milestones", "payment_bps sum to 12000"},
		{"penalty without money", withMoney(func(d *pb.GenesisDoc) {
			d.ContractTemplates[0].Deadlines[0].Penalty = "fields.amount / 10"
		}), "contract_templates[0].deadlines[0].penalty", "without money"},
		// Ids: the one rule (exec.ValidID), lowercase, so ids differing in
		// case cannot both exist.
		{"department id with NUL", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[0].Id = "dept\x00" }, "validators[0].id", `character '\x00' at byte 4 not allowed`},
		{"identity id with ESC", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].Id = "alice\x1b[31m" }, "identities[5].id", `character '\x1b' at byte 5 not allowed`},
		{"identity id with RLO", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].Id = "alice\u202egpj" }, "identities[5].id", `character '\u202e' at byte 5 not allowed`},
		{"identity id differing only in case", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[4].Id = "Alice" }, "identities[4].id", "uppercase 'A' at byte 0"},
		{"identity id too long", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].Id = strings.Repeat("a", exec.MaxIDBytes+1) }, "identities[5].id", "129 bytes, limit 128"},
		{"identity id like a flag", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].Id = "-rf" }, "identities[5].id", "starts with '-'"},
		{"record type id uppercase", func(t *testing.T, d *pb.GenesisDoc) { d.RecordTypes[1].Id = "Birth_certificate" }, "record_types[1].id", "uppercase 'B'"},
		{"template id with space", func(t *testing.T, d *pb.GenesisDoc) { d.ContractTemplates[0].Id = "proc urement" }, "contract_templates[0].id", "character ' ' at byte 4"},
		// Display names: no control or bidi characters.
		{"identity without display name", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].DisplayName = "" }, "identities[5].display_name", "empty"},
		{"display name with NUL", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].DisplayName = "Alice\x00" }, "identities[5].display_name", "control character U+0000 at byte 5"},
		{"display name with ESC", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].DisplayName = "\x1b[2JAlice" }, "identities[5].display_name", "control character U+001B at byte 0"},
		{"display name with RLO", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].DisplayName = "Alice \u202eexe.pdf" }, "identities[5].display_name", "bidirectional control U+202E at byte 6"},
		{"display name with zero-width space", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].DisplayName = "Al\u200bice" }, "identities[5].display_name", "invisible format character U+200B"},
		{"display name not UTF-8", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].DisplayName = "Al\xffice" }, "identities[5].display_name", "byte 2 is not valid UTF-8"},
		{"display name too long", func(t *testing.T, d *pb.GenesisDoc) {
			d.Identities[5].DisplayName = strings.Repeat("é", exec.MaxNameBytes)
		}, "identities[5].display_name", "512 bytes, limit 256"},
		{"department name with newline", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[0].Name = "Dept\nvalidators[1]: ok" }, "validators[0].name", "control character U+000A"},
		{"record type name with RLO", func(t *testing.T, d *pb.GenesisDoc) { d.RecordTypes[0].Name = "\u202eLand" }, "record_types[0].name", "bidirectional control U+202E"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := validDoc(t)
			tc.mutate(t, doc)
			_, err := Validate(doc)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			for _, p := range ve.Problems {
				if p.Field == tc.field && strings.Contains(p.Reason, tc.reason) {
					if !strings.Contains(err.Error(), tc.field+": ") {
						t.Fatalf("error text %q does not name %s", err, tc.field)
					}
					return
				}
			}
			t.Fatalf("no problem %s: ...%s...; got:\n%v", tc.field, tc.reason, err)
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	doc := validDoc(t)
	doc.ChainId = ""
	doc.FaultModel = "paxos"
	doc.Validators[1].PeerId = doc.Validators[0].PeerId
	_, err := Validate(doc)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 3 {
		t.Fatalf("want 3 problems, got %v", err)
	}
}

func TestWarnings(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		doc := validDoc(t)
		doc.Validators = doc.Validators[:n]
		doc.Identities = doc.Identities[:n]
		doc.Identities = append(doc.Identities, &pb.Identity{Id: "c", Kind: pb.IdentityKind_IDENTITY_KIND_CITIZEN, DepartmentId: "dept0", DisplayName: "C", PublicKey: pubKey(t)})
		doc.RecordTypes = []*pb.RecordType{{Id: "r", CreateDepartments: []string{"dept0"}}}
		warns, err := Validate(doc)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(warns) != 1 || warns[0].Field != "validators" || !strings.Contains(warns[0].Reason, "tolerates no faulty validator") ||
			!strings.Contains(warns[0].Reason, "byzantine") {
			t.Fatalf("n=%d: warnings %v, want one byzantine-too-small warning", n, warns)
		}
	}
	// A department without an admin, an unspecified address and a record
	// type nobody may create are warnings, not errors.
	doc := validDoc(t)
	doc.Identities[2].Roles = nil
	doc.Validators[0].Addrs = []string{"/ip4/0.0.0.0/tcp/26656"}
	doc.RecordTypes[1].CreateDepartments = nil
	warns, err := Validate(doc)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(warns)
	for _, want := range []string{`validators[2]: department "dept2" has no admin`, "validators[0].addrs[0]", "record_types[1].create_departments"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings %s lack %q", got, want)
		}
	}
}

func TestQuorum(t *testing.T) {
	cases := []struct {
		model   string
		n, q, f int
	}{
		{FaultCrash, 1, 1, 0}, {FaultCrash, 2, 2, 0}, {FaultCrash, 3, 2, 1}, {FaultCrash, 4, 3, 1}, {FaultCrash, 5, 3, 2}, {FaultCrash, 7, 4, 3},
		{FaultByzantine, 1, 1, 0}, {FaultByzantine, 3, 3, 0}, {FaultByzantine, 4, 3, 1}, {FaultByzantine, 5, 4, 1},
		{FaultByzantine, 6, 5, 1}, {FaultByzantine, 7, 5, 2}, {FaultByzantine, 10, 7, 3},
		{"paxos", 4, 0, 0}, {FaultCrash, 0, 0, 0},
	}
	for _, c := range cases {
		if q := Quorum(c.model, c.n); q != c.q {
			t.Errorf("Quorum(%s, %d) = %d, want %d", c.model, c.n, q, c.q)
		}
		if f := MaxFaults(c.model, c.n); f != c.f {
			t.Errorf("MaxFaults(%s, %d) = %d, want %d", c.model, c.n, f, c.f)
		}
	}
	// Any two byzantine quorums share at least f+1 validators (one correct).
	for n := 1; n <= 30; n++ {
		q, f := Quorum(FaultByzantine, n), MaxFaults(FaultByzantine, n)
		if 2*q-n < f+1 {
			t.Errorf("n=%d: quorums of %d intersect in %d < f+1=%d", n, q, 2*q-n, f+1)
		}
	}
}

func TestDefaultParamsValid(t *testing.T) {
	c := &checker{}
	c.checkParams(DefaultParams())
	if len(c.errs) != 0 {
		t.Fatal(c.errs)
	}
}

// TestHashIgnoresJSONLayout: reformatting the JSON (whitespace, key order)
// does not change the hash; changing a value does.
func TestHashIgnoresJSONLayout(t *testing.T) {
	doc := validDoc(t)
	data, err := Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Hash(doc)
	if err != nil {
		t.Fatal(err)
	}

	// Compact, no whitespace.
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		t.Fatal(err)
	}
	// Keys re-ordered: encoding/json writes map keys sorted, which differs
	// from the proto field order protojson writes.
	var generic map[string]any
	if err := json.Unmarshal(data, &generic); err != nil {
		t.Fatal(err)
	}
	sorted, _ := json.MarshalIndent(generic, "", "\t\t")
	if bytes.Equal(sorted, data) || !bytes.HasPrefix(bytes.TrimSpace(sorted), []byte("{\n\t\t\"chain_id\"")) {
		t.Fatalf("re-ordering did not change the key order:\n%s", sorted[:80])
	}
	for name, variant := range map[string][]byte{"original": data, "compact": compact.Bytes(), "reordered": sorted} {
		d, err := Unmarshal(variant)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := Hash(d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: hash %x, want %x", name, got, want)
		}
	}
	doc.Params.MaxBlockTxs++
	if other, _ := Hash(doc); bytes.Equal(other, want) {
		t.Fatal("changing a parameter did not change the hash")
	}
	if len(want) != HashSize || hex.EncodeToString(want) == "" {
		t.Fatal("bad hash size")
	}
}

func TestUnmarshalRejectsUnknownFields(t *testing.T) {
	data, _ := Marshal(validDoc(t))
	bad := bytes.Replace(data, []byte(`"chain_id"`), []byte(`"chain_idd": "x", "chain_id"`), 1)
	if _, err := Unmarshal(bad); err == nil || !strings.Contains(err.Error(), "chain_idd") {
		t.Fatalf("unknown field: %v", err)
	}
	if _, err := Unmarshal([]byte(`{"chain_id": `)); err == nil {
		t.Fatal("broken JSON accepted")
	}
}

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "genesis.json")
	doc := validDoc(t)
	if err := Save(path, doc, false); err != nil {
		t.Fatal(err)
	}
	if err := Save(path, doc, false); !errors.Is(err, ErrExists) {
		t.Fatalf("second Save: %v, want ErrExists", err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, doc) {
		t.Fatal("loaded genesis differs")
	}
	raw, _ := os.ReadFile(path)
	if !bytes.Contains(raw, []byte(`"chain_id": "test-chain"`)) || !bytes.Contains(raw, []byte("\n  ")) {
		t.Fatalf("genesis is not indented JSON with proto names:\n%s", raw[:100])
	}
}

func TestAddValidatorAndIdentity(t *testing.T) {
	doc := New("c", FaultCrash, time.Now())
	d0 := &pb.Department{Id: "d0", Name: "D0", ConsensusKey: pubKey(t), PeerId: peerID(t), Addrs: []string{"/ip4/10.0.0.1/tcp/1"}}
	if err := AddValidator(doc, d0); err != nil {
		t.Fatal(err)
	}
	dup := proto.Clone(d0).(*pb.Department)
	err := AddValidator(doc, dup)
	if err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("adding the same validator twice: %v", err)
	}
	if len(doc.Validators) != 1 {
		t.Fatal("a refused validator was added")
	}
	if err := AddIdentity(doc, &pb.Identity{Id: "a", Kind: pb.IdentityKind_IDENTITY_KIND_OFFICIAL, DepartmentId: "nope", PublicKey: pubKey(t)}); err == nil ||
		!strings.Contains(err.Error(), "unknown department") {
		t.Fatalf("identity of unknown department: %v", err)
	}
	if err := AddIdentity(doc, &pb.Identity{Id: "a", Kind: pb.IdentityKind_IDENTITY_KIND_OFFICIAL, DepartmentId: "d0", DisplayName: "A", PublicKey: pubKey(t),
		Roles: []pb.Role{pb.Role_ROLE_ADMIN}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Validate(doc); err != nil {
		t.Fatal(err)
	}
}

// A genesis with validator_change_delay 1 or 2 (below the floor a params
// change must meet, exec.MinValidatorChangeDelay) is accepted with a
// warning, so a chain started with one keeps starting and admitting new
// nodes; 0 stays an error.
func TestChangeDelayBelowTheFloorWarns(t *testing.T) {
	for _, d := range []uint64{1, 2} {
		doc := validDoc(t)
		doc.Params.ValidatorChangeDelay = d
		warns, err := Validate(doc)
		if err != nil {
			t.Fatalf("delay %d: %v", d, err)
		}
		if len(warns) != 1 || warns[0].Field != "params.validator_change_delay" || !strings.Contains(warns[0].Reason, "cannot be proven to a light client") {
			t.Fatalf("delay %d: warnings %v", d, warns)
		}
	}
	doc := validDoc(t)
	doc.Params.ValidatorChangeDelay = 3
	if warns, err := Validate(doc); err != nil || len(warns) != 0 {
		t.Fatalf("delay 3: %v %v", warns, err)
	}
}
