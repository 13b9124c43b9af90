package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// newKeyFile writes an unencrypted key of kind into dir and returns its path.
func newKeyFile(t *testing.T, dir, name, kind string) string {
	t.Helper()
	mustRun(t, nil, "keys", "new", name, "--keyring-dir", dir, "--kind", kind, "--insecure-unencrypted")
	return filepath.Join(dir, name+keystore.FileExt)
}

func peerOf(t *testing.T, nodeKeyFile string) string {
	t.Helper()
	info, err := keystore.LoadPublic(nodeKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	id, err := keystore.PeerIDFromPublicKey(info.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

func pubOf(t *testing.T, keyFile string) *pb.PublicKey {
	t.Helper()
	info, err := keystore.LoadPublic(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return info.PublicKey
}

func TestTxGovProposeMembership(t *testing.T) {
	dir, sum, f := testnetFixture(t, 1)
	addr := f.serve(t, 0)
	admin := sum.Nodes[0].Admin.ID
	keys := t.TempDir()
	valKey := newKeyFile(t, keys, "v2", "validator")
	nodeKey := newKeyFile(t, keys, "n2", "node")
	pid := peerOf(t, nodeKey)
	p2p := "/ip4/10.0.0.9/tcp/26656/p2p/" + pid
	adminKey := sum.Accounts[1].Key
	deptFile := writeFile(t, filepath.Join(t.TempDir(), "d.json"), `{"department":{"id":"dept7","name":"Seven","consensusKey":{"scheme":"KEY_SCHEME_ED25519","key":"`+
		b64(pubOf(t, valKey).GetKey())+`"},"peerId":"`+pid+`","addrs":["/ip4/10.0.0.7/tcp/26656"]},"admin":{"identityId":"dept7.admin","displayName":"a","roles":["ROLE_ADMIN"],"publicKey":{"scheme":"KEY_SCHEME_ED25519","key":"`+
		b64(pubOf(t, valKey).GetKey())+`"}}}`)
	common := func(id string) []string {
		return []string{"--signer", admin, "--id", id, "--voting-end-height", "100"}
	}
	for _, tc := range []struct {
		verb  string
		args  []string
		check func(p *pb.SubmitProposal) bool
	}{
		{"rotate-validator-key", []string{"--department", "dept0", "--consensus-key", valKey},
			func(p *pb.SubmitProposal) bool {
				r := p.GetRotateValidatorKey()
				return r.GetDepartmentId() == "dept0" && crypto.PublicKeyEqual(r.GetConsensusKey(), pubOf(t, valKey)) &&
					p.GetTitle() == "rotate the validator key of dept0"
			}},
		{"rotate-validator-key", []string{"--department", "dept0", "--consensus-key", "ed25519:" + b64(pubOf(t, valKey).GetKey()), "--title", "leak"},
			func(p *pb.SubmitProposal) bool {
				return crypto.PublicKeyEqual(p.GetRotateValidatorKey().GetConsensusKey(), pubOf(t, valKey)) && p.GetTitle() == "leak"
			}},
		{"rotate-node-key", []string{"--department", "dept0", "--peer-id", nodeKey, "--addr", p2p},
			func(p *pb.SubmitProposal) bool {
				r := p.GetRotateNodeKey()
				return r.GetDepartmentId() == "dept0" && r.GetPeerId() == pid && slices.Equal(r.GetAddrs(), []string{p2p})
			}},
		{"rotate-node-key", []string{"--department", "dept0", "--peer-id", pid},
			func(p *pb.SubmitProposal) bool {
				return p.GetRotateNodeKey().GetPeerId() == pid && len(p.GetRotateNodeKey().GetAddrs()) == 0
			}},
		{"fault-model", []string{"--fault-model", "Crash"},
			func(p *pb.SubmitProposal) bool { return p.GetFaultModel().GetFaultModel() == "crash" }},
		{"add-observer", []string{"--peer-id", pid, "--name", "audit office"},
			func(p *pb.SubmitProposal) bool {
				return p.GetAddObserver().GetPeerId() == pid && p.GetAddObserver().GetName() == "audit office"
			}},
		{"remove-observer", []string{"--peer-id", nodeKey},
			func(p *pb.SubmitProposal) bool { return p.GetRemoveObserver().GetPeerId() == pid }},
		{"remove-department", []string{"--department", "dept0"},
			func(p *pb.SubmitProposal) bool { return p.GetRemoveDepartment().GetDepartmentId() == "dept0" }},
		{"add-department", []string{"--department", "dept9", "--name", "Nine", "--consensus-key", valKey, "--peer-id", nodeKey,
			"--addr", p2p, "--admin", "dept9.admin", "--admin-key", adminKey},
			func(p *pb.SubmitProposal) bool {
				a := p.GetAddDepartment()
				d := a.GetDepartment()
				return d.GetId() == "dept9" && d.GetName() == "Nine" && crypto.PublicKeyEqual(d.GetConsensusKey(), pubOf(t, valKey)) &&
					d.GetPeerId() == pid && slices.Equal(d.GetAddrs(), []string{p2p}) &&
					a.GetAdmin().GetIdentityId() == "dept9.admin" && a.GetAdmin().GetDepartmentId() == "dept9" &&
					slices.Equal(a.GetAdmin().GetRoles(), []pb.Role{pb.Role_ROLE_ADMIN}) && p.GetTitle() == "add department dept9"
			}},
		// From the new node's home: its validator key, peer id and addrs.
		{"add-department", []string{"--department", "dept8", "--node-home", sum.Nodes[0].Home, "--admin", "dept8.admin", "--admin-key", adminKey},
			func(p *pb.SubmitProposal) bool {
				d := p.GetAddDepartment().GetDepartment()
				return d.GetPeerId() == sum.Nodes[0].PeerID && crypto.PublicKeyEqual(d.GetConsensusKey(), pubOf(t, sum.Nodes[0].ValidatorKey)) &&
					len(d.GetAddrs()) > 0 && d.GetName() == "dept8"
			}},
		{"fund-budget", []string{"--department", "dept0", "--amount", "250000", "--reason", "road works 2027"},
			func(p *pb.SubmitProposal) bool {
				fb := p.GetFundBudget()
				return fb.GetDepartmentId() == "dept0" && fb.GetAmount() == 250000 && fb.GetReason() == "road works 2027" &&
					p.GetTitle() == "fund the budget of dept0 with 250000"
			}},
		{"fund-budget", []string{"--department", "dept0", "--amount", "9223372036854775807", "--reason", "all of it", "--title", "max"},
			func(p *pb.SubmitProposal) bool {
				return p.GetFundBudget().GetAmount() == 9223372036854775807 && p.GetTitle() == "max"
			}},
		{"add-department", []string{"--file", deptFile},
			func(p *pb.SubmitProposal) bool {
				return p.GetAddDepartment().GetDepartment().GetId() == "dept7" && p.GetAddDepartment().GetDepartment().GetPeerId() == pid
			}},
	} {
		args := append([]string{"tx", "gov", "propose", tc.verb}, common("p-"+tc.verb)...)
		args = append(args, tc.args...)
		args = append(args, "--testnet", dir, "--node", addr)
		mustRun(t, nil, args...)
		if p := lastAccepted(t, f).body.GetSubmitProposal(); !tc.check(p) {
			t.Errorf("govnode tx gov propose %s %s: %v", tc.verb, strings.Join(tc.args, " "), p)
		}
	}
}

// Each verb refuses bad arguments before anything is signed or sent.
func TestTxGovProposeErrors(t *testing.T) {
	dir, sum, _ := testnetFixture(t, 1)
	admin := sum.Nodes[0].Admin.ID
	keys := t.TempDir()
	valKey := newKeyFile(t, keys, "v2", "validator")
	nodeKey := newKeyFile(t, keys, "n2", "node")
	acctKey := newKeyFile(t, keys, "a2", "account")
	pid, other := peerOf(t, nodeKey), sum.Nodes[0].PeerID
	file := writeFile(t, filepath.Join(t.TempDir(), "d.json"), `{"department":{"id":"x","name":"x","peerId":"nope"}}`)
	for _, tc := range []struct {
		verb string
		args []string
		want string
	}{
		{"rotate-validator-key", []string{"--department", "dept0", "--consensus-key", "ed25519:!!"}, "--consensus-key"},
		{"rotate-validator-key", []string{"--department", "dept0", "--consensus-key", "ed25519:" + b64(make([]byte, 32))}, "--consensus-key"},
		{"rotate-validator-key", []string{"--department", "dept0", "--consensus-key", nodeKey}, "is a key of kind node, not a validator key"},
		{"rotate-validator-key", []string{"--department", "a b", "--consensus-key", valKey}, `--department "a b"`},
		{"rotate-validator-key", []string{"--consensus-key", valKey}, `required flag(s) "department" not set`},
		{"rotate-node-key", []string{"--department", "dept0", "--peer-id", "peer-1"}, "not a libp2p peer id"},
		{"rotate-node-key", []string{"--department", "dept0", "--peer-id", acctKey}, "is a key of kind account, not a node key"},
		{"rotate-node-key", []string{"--department", "dept0", "--peer-id", pid, "--addr", "10.0.0.1:26656"}, "not a multiaddr"},
		{"rotate-node-key", []string{"--department", "dept0", "--peer-id", pid, "--addr", "/ip4/10.0.0.1/tcp/1/p2p/" + other}, "names peer " + other},
		{"fault-model", []string{"--fault-model", "raft"}, "want crash or byzantine"},
		{"add-observer", []string{"--peer-id", "12D3KooWnope"}, "--peer-id: 12D3KooWnope"},
		{"add-observer", []string{"--peer-id", pid, "--name", strings.Repeat("n", 300)}, "--name: 300 bytes"},
		{"remove-observer", []string{"--peer-id", ""}, "--peer-id is required"},
		{"remove-department", []string{"--department", "a/b"}, `--department "a/b"`},
		{"add-department", []string{"--department", "d9", "--admin", "d9.admin", "--admin-key", acctKey}, "give --consensus-key and --peer-id, or --node-home"},
		{"add-department", []string{"--department", "d9", "--consensus-key", valKey, "--peer-id", pid}, "--admin is required"},
		{"add-department", []string{"--department", "d9", "--consensus-key", valKey, "--peer-id", pid, "--admin", "d9.admin", "--admin-key", acctKey,
			"--addr", "/ip4/10.0.0.1/tcp/1/p2p/" + other}, "does not match peer_id"},
		{"add-department", []string{"--file", file, "--department", "d9"}, "exclude each other"},
		{"add-department", []string{"--file", file}, "invalid department"},
		{"fund-budget", []string{"--department", "dept0", "--amount", "0", "--reason", "r"}, "--amount 0: must be above 0"},
		{"fund-budget", []string{"--department", "dept0", "--amount", "-5", "--reason", "r"}, "--amount -5: must be above 0"},
		{"fund-budget", []string{"--department", "dept0", "--amount", "9223372036854775808", "--reason", "r"}, "out of range; at most 9223372036854775807"},
		{"fund-budget", []string{"--department", "dept0", "--amount", "12.50", "--reason", "r"}, "want a whole number of minor units"},
		{"fund-budget", []string{"--department", "dept0", "--amount", "1e6", "--reason", "r"}, "want a whole number of minor units"},
		{"fund-budget", []string{"--department", "dept0", "--amount", "5", "--reason", "  "}, "--reason is required and must not be blank"},
		{"fund-budget", []string{"--department", "dept0", "--amount", "5"}, `required flag(s) "reason" not set`},
		{"fund-budget", []string{"--department", "Dept0", "--amount", "5", "--reason", "r"}, `--department "Dept0"`},
	} {
		args := append([]string{"tx", "gov", "propose", tc.verb, "--signer", admin, "--id", "p", "--voting-end-height", "9"}, tc.args...)
		args = append(args, "--testnet", dir, "--node", "127.0.0.1:1")
		r := run(t, nil, args...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("govnode tx gov propose %s %s: %v, want %q", tc.verb, strings.Join(tc.args, " "), r.err, tc.want)
		}
	}
}
