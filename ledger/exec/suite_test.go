package exec_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Keys and peer bindings under the chain's crypto suite (ARCHITECTURE.md
// §7 "Faults and hostile input"): every key that enters the state is of
// the suite's scheme; on sm2-sm3 every department's peer id is bound by its
// consensus key, on ed25519-sha256 no department carries a binding.

var suites = []crypto.Suite{crypto.Ed25519SHA256, crypto.SM2SM3}

// otherScheme is the scheme that is not suite's.
func otherScheme(suite crypto.Suite) pb.KeyScheme {
	if suite == crypto.SM2SM3 {
		return pb.KeyScheme_KEY_SCHEME_ED25519
	}
	return pb.KeyScheme_KEY_SCHEME_SM2
}

func newSuiteEnv(t *testing.T, suite crypto.Suite, depts int) *env {
	t.Helper()
	f := exectest.NewSuiteFixture(depts, suite)
	c, err := f.NewChain(f.Config())
	if err != nil {
		t.Fatalf("new %s chain: %v", suite, err)
	}
	return &env{t: t, f: f, c: c}
}

// refuseFor is refuseWith with the body before the reason.
func (e *env) refuseFor(id string, want pb.ResultCode, body *pb.TxBody, reason string) {
	e.t.Helper()
	if r := e.refuse(id, want, body); !strings.Contains(r.GetReason(), reason) {
		e.t.Fatalf("reason %q lacks %q", r.GetReason(), reason)
	}
}

// failedWith checks that proposal id failed at execution for reason.
func (e *env) failedWith(id, reason string) {
	e.t.Helper()
	p := proposalOf(e.t, e, id)
	if p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_FAILED || !strings.Contains(p.GetFailureReason(), reason) {
		e.t.Fatalf("proposal %s: %v %q, want failed with %q", id, p.GetStatus(), p.GetFailureReason(), reason)
	}
}

func TestSuiteGenesis(t *testing.T) {
	for _, suite := range suites {
		t.Run(suite.String(), func(t *testing.T) {
			f := exectest.NewSuiteFixture(4, suite)
			if _, err := f.NewChain(f.Config()); err != nil {
				t.Fatalf("fixture genesis: %v", err)
			}
			for _, tc := range []struct {
				name   string
				mutate func(f *exectest.Fixture)
				cfg    func(c *exec.Config)
				want   string
			}{
				{"consensus key of the other scheme", func(f *exectest.Fixture) {
					f.Genesis.Validators[1].ConsensusKey = exectest.NewSchemeKey(otherScheme(suite), "x").Public()
				}, nil, "key scheme does not match"},
				{"identity key of the other scheme", func(f *exectest.Fixture) {
					f.Genesis.Identities[3].PublicKey = exectest.NewSchemeKey(otherScheme(suite), "x").Public()
				}, nil, "key scheme does not match"},
				{"executor of another suite", nil, func(c *exec.Config) { c.Suite = crypto.Suite(1 - suite) }, "crypto suite"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					f := exectest.NewSuiteFixture(4, suite)
					if tc.mutate != nil {
						tc.mutate(f)
					}
					cfg := f.Config()
					if tc.cfg != nil {
						tc.cfg(&cfg)
					}
					_, err := f.NewChain(cfg)
					if !errors.Is(err, exec.ErrInvalidGenesis) || !strings.Contains(err.Error(), tc.want) {
						t.Fatalf("genesis: %v, want ErrInvalidGenesis with %q", err, tc.want)
					}
				})
			}
		})
	}
	// The bindings: required and verified on sm2-sm3, refused on
	// ed25519-sha256.
	for _, tc := range []struct {
		name   string
		suite  crypto.Suite
		mutate func(f *exectest.Fixture)
		want   string
	}{
		{"sm2-sm3 missing binding", crypto.SM2SM3, func(f *exectest.Fixture) { f.Genesis.Validators[2].PeerBinding = nil }, "missing peer binding"},
		{"sm2-sm3 binding of another peer", crypto.SM2SM3, func(f *exectest.Fixture) {
			f.Genesis.Validators[2].PeerBinding = f.Genesis.Validators[3].PeerBinding
		}, "does not verify"},
		{"ed25519-sha256 binding", crypto.Ed25519SHA256, func(f *exectest.Fixture) { f.Genesis.Validators[0].PeerBinding = []byte{1} }, "peer binding on a chain whose suite takes none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := exectest.NewSuiteFixture(4, tc.suite)
			tc.mutate(f)
			if _, err := f.NewChain(f.Config()); !errors.Is(err, exec.ErrInvalidGenesis) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("genesis: %v, want ErrInvalidGenesis with %q", err, tc.want)
			}
		})
	}
}

// Identity keys entering by tx: registration and rotation take the
// suite's scheme only.
func TestSuiteIdentityKeys(t *testing.T) {
	for _, suite := range suites {
		t.Run(suite.String(), func(t *testing.T) {
			e := newSuiteEnv(t, suite, 2)
			other := func(seed string) *pb.PublicKey { return exectest.NewSchemeKey(otherScheme(suite), seed).Public() }
			own := func(seed string) *pb.PublicKey { return e.f.Key(seed).Public() }
			const wrong = "key scheme does not match the chain's crypto suite"

			sub := regSubject("cit9", pb.IdentityKind_IDENTITY_KIND_CITIZEN)
			sub.GetRegisterSubject().PublicKey = other("cit9")
			e.refuseFor("d0.registrar", codeInvalid, sub, wrong)
			sub.Nonce, sub.GetRegisterSubject().PublicKey = 0, own("cit9")
			e.ok("d0.registrar", sub)

			off := regOfficial("d0.clerk", "d0", []pb.Role{pb.Role_ROLE_REGISTRAR})
			off.GetRegisterOfficial().PublicKey = other("d0.clerk")
			e.refuseFor("d0.admin", codeInvalid, off, wrong)
			off.Nonce, off.GetRegisterOfficial().PublicKey = 0, own("d0.clerk")
			e.ok("d0.admin", off)

			e.refuseFor("cit0", codeInvalid, rotate("cit0", other("cit0/2"), ""), wrong)
			e.ok("cit0", rotate("cit0", own("cit0/2"), ""))
			if got := mustIdentity(t, e.c.Store, "cit0").GetPublicKey(); !crypto.PublicKeyEqual(got, own("cit0/2")) {
				t.Fatalf("rotated key %v", got)
			}
		})
	}
}

// suiteAddDept is addDept with keys of f's suite and, on sm2-sm3, the
// binding of its peer id by its consensus key.
func suiteAddDept(f *exectest.Fixture, id string) func(*pb.SubmitProposal) {
	ck := f.Key("consensus/" + id)
	return func(p *pb.SubmitProposal) {
		addDept(id)(p)
		d := p.GetAddDepartment().GetDepartment()
		d.ConsensusKey = ck.Public()
		d.PeerBinding = f.Binding(ck, id, d.GetPeerId())
		p.GetAddDepartment().Admin.PublicKey = f.Key(id + ".admin").Public()
	}
}

// checkBound: department dept's record and its entry in the last set
// decided carry a binding valid on the chain.
func checkBound(t *testing.T, e *env, dept string) {
	t.Helper()
	d, err := exec.Department(e.c.Store, dept)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := exec.ValidatorSet(e.c.Store)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*pb.Department{d, validatorIn(vs, dept)} {
		if err := crypto.CheckPeerBinding(e.f.Suite, exectest.ChainID, dept, x.GetPeerId(), x.GetConsensusKey(), x.GetPeerBinding()); err != nil {
			t.Fatalf("department %s (%v): %v", dept, x, err)
		}
	}
	if !proto.Equal(d, validatorIn(vs, dept)) {
		t.Fatalf("department record %v differs from its validator %v", d, validatorIn(vs, dept))
	}
}

func TestSuiteAddDepartment(t *testing.T) {
	for _, suite := range suites {
		t.Run(suite.String(), func(t *testing.T) {
			e := newSuiteEnv(t, suite, 4)
			with := func(id string, f func(d *pb.Department, a *pb.RegisterOfficial)) *pb.TxBody {
				return propose(id, 100, func(p *pb.SubmitProposal) {
					suiteAddDept(e.f, "d4")(p)
					f(p.GetAddDepartment().GetDepartment(), p.GetAddDepartment().GetAdmin())
				})
			}
			other := exectest.NewSchemeKey(otherScheme(suite), "consensus/d4")
			e.refuseFor("d0.admin", codeInvalid, with("k", func(d *pb.Department, _ *pb.RegisterOfficial) {
				d.ConsensusKey = other.Public()
				if suite == crypto.SM2SM3 {
					d.PeerBinding = nil
				}
			}), "department consensus key: crypto: key scheme does not match")
			e.refuseFor("d0.admin", codeInvalid, with("a", func(_ *pb.Department, a *pb.RegisterOfficial) {
				a.PublicKey = exectest.NewSchemeKey(otherScheme(suite), "d4.admin").Public()
			}), "public key: crypto: key scheme does not match")
			if suite == crypto.SM2SM3 {
				e.refuseFor("d0.admin", codeInvalid, with("m", func(d *pb.Department, _ *pb.RegisterOfficial) { d.PeerBinding = nil }),
					"department peer binding: crypto: missing peer binding")
				e.refuseFor("d0.admin", codeInvalid, with("b", func(d *pb.Department, _ *pb.RegisterOfficial) {
					d.PeerBinding = e.f.Binding(e.f.Key("consensus/d4"), "d4", exectest.PeerID("node/other"))
				}), "does not verify")
				e.refuseFor("d0.admin", codeInvalid, with("c", func(d *pb.Department, _ *pb.RegisterOfficial) {
					d.PeerBinding = e.f.Binding(e.f.Consensus[0], "d4", d.GetPeerId())
				}), "does not verify")
			} else {
				e.refuseFor("d0.admin", codeInvalid, with("e", func(d *pb.Department, _ *pb.RegisterOfficial) { d.PeerBinding = []byte("junk") }),
					"peer binding on a chain whose suite takes none")
			}
			e.pass("d0", propose("p", 100, suiteAddDept(e.f, "d4")), "d0", "d1", "d2")
			checkBound(t, e, "d4")
		})
	}
}

// suiteRotateNode is rotateNode with the binding of the new peer id by the
// department's current consensus key key.
func suiteRotateNode(f *exectest.Fixture, key crypto.PrivateKey, dept, peerID string) func(*pb.SubmitProposal) {
	return func(p *pb.SubmitProposal) {
		rotateNode(dept, peerID)(p)
		p.GetRotateNodeKey().PeerBinding = f.Binding(key, dept, peerID)
	}
}

// suiteRotateKey is rotateKey with the new key's binding of the current
// peer id.
func suiteRotateKey(f *exectest.Fixture, key crypto.PrivateKey, dept, peerID string) func(*pb.SubmitProposal) {
	return func(p *pb.SubmitProposal) {
		rotateKey(dept, key.Public())(p)
		p.GetRotateValidatorKey().PeerBinding = f.Binding(key, dept, peerID)
	}
}

func TestSuiteRotateNodeKey(t *testing.T) {
	for _, suite := range suites {
		t.Run(suite.String(), func(t *testing.T) {
			e := newSuiteEnv(t, suite, 4)
			cur := e.f.Consensus[1]
			next := exectest.PeerID("node/d1/2")
			body := func(id string, f func(r *pb.RotateNodeKey)) *pb.TxBody {
				return propose(id, 100, func(p *pb.SubmitProposal) {
					suiteRotateNode(e.f, cur, "d1", next)(p)
					f(p.GetRotateNodeKey())
				})
			}
			if suite == crypto.SM2SM3 {
				e.refuseFor("d1.admin", codeInvalid, body("m", func(r *pb.RotateNodeKey) { r.PeerBinding = nil }),
					"rotate_node_key peer binding (the current consensus key's, of the new peer id): crypto: missing peer binding")
				e.refuseFor("d1.admin", codeInvalid, body("o", func(r *pb.RotateNodeKey) {
					r.PeerBinding = e.f.Genesis.Validators[1].PeerBinding // the old peer id's
				}), "does not verify")
				e.refuseFor("d1.admin", codeInvalid, body("k", func(r *pb.RotateNodeKey) {
					r.PeerBinding = e.f.Binding(e.f.Key("consensus/d1/2"), "d1", next) // a key not the department's
				}), "does not verify")
			} else {
				e.refuseFor("d1.admin", codeInvalid, body("e", func(r *pb.RotateNodeKey) { r.PeerBinding = []byte{1} }),
					"peer binding on a chain whose suite takes none")
			}
			e.pass("d1", propose("p", 100, suiteRotateNode(e.f, cur, "d1", next)), "d0", "d2", "d3")
			checkBound(t, e, "d1")
			if d, _ := exec.Department(e.c.Store, "d1"); d.GetPeerId() != next {
				t.Fatalf("peer id %s, want %s", d.GetPeerId(), next)
			}
		})
	}
}

func TestSuiteRotateValidatorKey(t *testing.T) {
	for _, suite := range suites {
		t.Run(suite.String(), func(t *testing.T) {
			e := newSuiteEnv(t, suite, 4)
			peerID := e.f.Genesis.Validators[1].GetPeerId()
			newKey := e.f.Key("consensus/d1/2")
			body := func(id string, f func(r *pb.RotateValidatorKey)) *pb.TxBody {
				return propose(id, 100, func(p *pb.SubmitProposal) {
					suiteRotateKey(e.f, newKey, "d1", peerID)(p)
					f(p.GetRotateValidatorKey())
				})
			}
			e.refuseFor("d1.admin", codeInvalid, body("s", func(r *pb.RotateValidatorKey) {
				r.ConsensusKey = exectest.NewSchemeKey(otherScheme(suite), "consensus/d1/2").Public()
				r.PeerBinding = nil
			}), "new consensus key: crypto: key scheme does not match")
			if suite == crypto.SM2SM3 {
				e.refuseFor("d1.admin", codeInvalid, body("m", func(r *pb.RotateValidatorKey) { r.PeerBinding = nil }),
					"rotate_validator_key peer binding (the new key's, of the current peer id): crypto: missing peer binding")
				e.refuseFor("d1.admin", codeInvalid, body("o", func(r *pb.RotateValidatorKey) {
					r.PeerBinding = e.f.Genesis.Validators[1].PeerBinding // the old key's
				}), "does not verify")
				e.refuseFor("d1.admin", codeInvalid, body("p", func(r *pb.RotateValidatorKey) {
					r.PeerBinding = e.f.Binding(newKey, "d1", exectest.PeerID("node/d1/2")) // another peer id
				}), "does not verify")
			} else {
				e.refuseFor("d1.admin", codeInvalid, body("e", func(r *pb.RotateValidatorKey) { r.PeerBinding = []byte{1} }),
					"peer binding on a chain whose suite takes none")
			}
			e.pass("d1", propose("p", 100, suiteRotateKey(e.f, newKey, "d1", peerID)), "d0", "d2", "d3")
			checkBound(t, e, "d1")
			if d, _ := exec.Department(e.c.Store, "d1"); !crypto.PublicKeyEqual(d.GetConsensusKey(), newKey.Public()) {
				t.Fatalf("consensus key %v", d.GetConsensusKey())
			}
		})
	}
}

// A key rotation and a node rotation of one department voting at once on
// an sm2-sm3 chain: each binding names the other's old half, so the one
// that executes second fails, and the department's binding stays valid.
func TestSM2RotationsRacing(t *testing.T) {
	for _, nodeFirst := range []bool{true, false} {
		e := newSuiteEnv(t, crypto.SM2SM3, 4)
		oldPeer := e.f.Genesis.Validators[1].GetPeerId()
		newPeer := exectest.PeerID("node/d1/2")
		newKey := e.f.Key("consensus/d1/2")
		e.ok("d1.admin", propose("node", 100, suiteRotateNode(e.f, e.f.Consensus[1], "d1", newPeer)))
		e.ok("d1.admin", propose("key", 100, suiteRotateKey(e.f, newKey, "d1", oldPeer)))
		first, second := "node", "key"
		if !nodeFirst {
			first, second = second, first
		}
		for _, d := range []string{"d0", "d2", "d3"} {
			e.ok(d+".admin", vote(first, true))
		}
		for _, d := range []string{"d0", "d2", "d3"} {
			e.block(e.s(d + ".admin").Tx(vote(second, true)))
		}
		if p := proposalOf(t, e, first); p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_PASSED {
			t.Fatalf("%s: %v %q", first, p.GetStatus(), p.GetFailureReason())
		}
		e.failedWith(second, "does not verify")
		checkBound(t, e, "d1")
	}
}
