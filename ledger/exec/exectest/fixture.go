package exectest

import (
	"crypto/sha256"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ChainID is the fixture's chain id.
const ChainID = "govnode-test"

// GenesisTimeMs is the time of the fixture's first block (2026-01-01).
const GenesisTimeMs int64 = 1767225600000

// NewKey returns a deterministic Ed25519 key derived from seed.
func NewKey(seed string) crypto.PrivateKey {
	s := sha256.Sum256([]byte("exectest/" + seed))
	k, err := crypto.PrivateKeyFromBytes(pb.KeyScheme_KEY_SCHEME_ED25519, s[:])
	if err != nil {
		panic(err) // 32-byte seeds always decode
	}
	return k
}

// NewSchemeKey returns a deterministic key of scheme derived from seed:
// NewKey for Ed25519, an SM2 key for KEY_SCHEME_SM2.
func NewSchemeKey(scheme pb.KeyScheme, seed string) crypto.PrivateKey {
	if scheme == pb.KeyScheme_KEY_SCHEME_ED25519 {
		return NewKey(seed)
	}
	s := sha256.Sum256([]byte("exectest/" + crypto.SchemeName(scheme) + "/" + seed))
	for {
		// An SM2 scalar must be in [1, n-1]; a hash above it (odds near
		// 2^-32) is hashed again.
		k, err := crypto.PrivateKeyFromBytes(scheme, s[:])
		if err == nil {
			return k
		}
		s = sha256.Sum256(s[:])
	}
}

// PeerID is the libp2p peer id of the node key NewKey(seed), in its
// canonical form.
func PeerID(seed string) string {
	id, err := keystore.PeerIDFromPublicKey(NewKey(seed).Public())
	if err != nil {
		panic(err) // NewKey's keys are valid Ed25519 keys
	}
	return id.String()
}

// Signer signs transactions for one identity and tracks its nonce.
type Signer struct {
	ID    string
	Key   crypto.PrivateKey
	Nonce uint64 // last nonce used
}

// NewSigner returns a signer for id with a key derived from id.
func NewSigner(id string) *Signer { return &Signer{ID: id, Key: NewKey(id)} }

// Tx signs body for chain ChainID: it fills chain id (if empty), signer
// (if empty) and the next nonce (if zero), and returns the SignedTx bytes.
func (s *Signer) Tx(body *pb.TxBody) []byte {
	if body.ChainId == "" {
		body.ChainId = ChainID
	}
	if body.Signer == "" {
		body.Signer = s.ID
	}
	if body.Nonce == 0 {
		s.Nonce++
		body.Nonce = s.Nonce
	}
	return SignBody(s.Key, body)
}

// SignBody serializes body, signs it with key for body.ChainId and returns
// the SignedTx bytes.
func SignBody(key crypto.PrivateKey, body *pb.TxBody) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		panic(err)
	}
	sig, err := key.Sign(crypto.TxSignBytes(body.GetChainId(), b))
	if err != nil {
		panic(err)
	}
	out, err := proto.Marshal(&pb.SignedTx{Body: b, Signature: sig})
	if err != nil {
		panic(err)
	}
	return out
}

// Record type ids of the fixture.
const (
	LandTitle       = "land_title"       // d0 issues; transferable with consent; access needs consent; on chain
	BirthCert       = "birth_cert"       // d1 issues; protected (hash only, content beside the chain); access needs consent
	BusinessLicense = "business_license" // d0 and d1 issue; on chain; open access
)

// DeptBudget is each fixture department's opening budget, in minor units.
const DeptBudget int64 = 1_000_000_000_00

// Fixture is a genesis with n departments d0..d(n-1), each with officials
// <d>.admin (ADMIN), <d>.registrar (REGISTRAR), <d>.issuer (ISSUER of every
// fixture record type) and <d>.auditor (AUDITOR) and an opening budget of
// DeptBudget, citizens cit0..cit3 and company co0 registered by d0, the
// three record types above and the tender template.
type Fixture struct {
	// Suite is the chain's crypto suite (Genesis.crypto_suite): every key
	// of the fixture, and of the signers S creates, is of its scheme.
	Suite     crypto.Suite
	Genesis   *pb.GenesisDoc
	Depts     []string
	Consensus []crypto.PrivateKey // validator i's consensus key
	Signers   map[string]*Signer
}

// DefaultParams are the fixture's chain parameters.
func DefaultParams() *pb.Params {
	return &pb.Params{
		ProposeTimeoutMs: 1000, MaxViewTimeoutMs: 30000, HeartbeatIntervalMs: 500,
		MaxBlockBytes: 8 << 20, MaxBlockTxs: 10000, MaxTxBytes: 64 << 10, ValidatorChangeDelay: 3,
	}
}

// NewFixture builds the fixture with n >= 2 departments on an
// "ed25519-sha256" chain.
func NewFixture(n int) *Fixture { return NewSuiteFixture(n, crypto.Ed25519SHA256) }

// NewSuiteFixture builds the fixture with n >= 2 departments on a chain of
// suite: its keys are of the suite's scheme and, on "sm2-sm3", each
// validator's peer id is bound by its consensus key (peer_binding). Run it
// with Config.Suite = f.Suite (f.Config does).
func NewSuiteFixture(n int, suite crypto.Suite) *Fixture {
	if n < 2 {
		panic("exectest: a fixture needs at least 2 departments")
	}
	f := &Fixture{Suite: suite, Signers: make(map[string]*Signer)}
	doc := &pb.GenesisDoc{ChainId: ChainID, GenesisTime: "2026-01-01T00:00:00Z", FaultModel: "byzantine", Params: DefaultParams(),
		CryptoSuite: suite.HeaderName()}
	for i := range n {
		d := fmt.Sprintf("d%d", i)
		f.Depts = append(f.Depts, d)
		ck := f.Key("consensus/" + d)
		f.Consensus = append(f.Consensus, ck)
		dept := &pb.Department{Id: d, Name: "Department " + d, ConsensusKey: ck.Public(), PeerId: PeerID("node/" + d)}
		dept.PeerBinding = f.Binding(ck, d, dept.PeerId)
		doc.Validators = append(doc.Validators, dept)
		doc.Budgets = append(doc.Budgets, &pb.Budget{DepartmentId: d, Balance: DeptBudget})
	}
	types := []string{LandTitle, BirthCert, BusinessLicense}
	doc.RecordTypes = []*pb.RecordType{
		{
			Id: LandTitle, Name: "Land title", CreateDepartments: []string{"d0"}, AmendDepartments: []string{"d0"},
			TransferDepartments: []string{"d0"}, RevokeDepartments: []string{"d0"}, MaxContentBytes: 4096,
			OnChainContent: true, Transferable: true, TransferNeedsConsent: true, AccessNeedsConsent: true,
		},
		{
			Id: BirthCert, Name: "Birth certificate", CreateDepartments: []string{"d1"}, AmendDepartments: []string{"d1"},
			RevokeDepartments: []string{"d1"}, AccessNeedsConsent: true,
			Visibility: pb.ContentVisibility_CONTENT_VISIBILITY_PROTECTED, MaxContentBytes: 2048,
		},
		{
			Id: BusinessLicense, Name: "Business license", CreateDepartments: []string{"d0", "d1"},
			AmendDepartments: []string{"d0", "d1"}, RevokeDepartments: []string{"d0"}, MaxContentBytes: 2048, OnChainContent: true,
		},
	}
	doc.ContractTemplates = []*pb.ContractTemplate{exec.TenderTemplate()}
	add := func(id, dept string, kind pb.IdentityKind, roles []pb.Role, issuer []string) {
		s := &Signer{ID: id, Key: f.Key(id)}
		f.Signers[id] = s
		doc.Identities = append(doc.Identities, &pb.Identity{
			Id: id, Kind: kind, DepartmentId: dept, DisplayName: id, PublicKey: s.Key.Public(),
			Roles: roles, IssuerRecordTypes: issuer,
		})
	}
	for _, d := range f.Depts {
		off := pb.IdentityKind_IDENTITY_KIND_OFFICIAL
		add(d+".admin", d, off, []pb.Role{pb.Role_ROLE_ADMIN}, nil)
		add(d+".registrar", d, off, []pb.Role{pb.Role_ROLE_REGISTRAR}, nil)
		add(d+".issuer", d, off, []pb.Role{pb.Role_ROLE_ISSUER}, types)
		add(d+".auditor", d, off, []pb.Role{pb.Role_ROLE_AUDITOR}, nil)
	}
	for i := range 4 {
		add(fmt.Sprintf("cit%d", i), "d0", pb.IdentityKind_IDENTITY_KIND_CITIZEN, nil, nil)
	}
	add("co0", "d0", pb.IdentityKind_IDENTITY_KIND_COMPANY, nil, nil)
	f.Genesis = doc
	return f
}

// AddValidatorIdentities gives each genesis department its validator
// identity (exec.ValidatorIdentity, as `govnode genesis` and `govnode
// testnet` write it), keyed by its consensus key, and a signer for it
// under exec.ValidatorIdentityID(dept). Call it once, before NewChain.
func (f *Fixture) AddValidatorIdentities() {
	for i, d := range f.Genesis.GetValidators() {
		idn := exec.ValidatorIdentity(d)
		f.Genesis.Identities = append(f.Genesis.Identities, idn)
		f.Signers[idn.GetId()] = &Signer{ID: idn.GetId(), Key: f.Consensus[i]}
	}
}

// Key returns the deterministic key of the fixture's scheme derived from
// seed (NewSchemeKey).
func (f *Fixture) Key(seed string) crypto.PrivateKey { return NewSchemeKey(f.Suite.Scheme(), seed) }

// Binding returns key's peer binding of peerID for department dept on
// the fixture's chain when its suite takes one ("sm2-sm3"), else nil.
func (f *Fixture) Binding(key crypto.PrivateKey, dept, peerID string) []byte {
	if f.Suite != crypto.SM2SM3 {
		return nil
	}
	b, err := crypto.BindPeer(key, ChainID, dept, peerID)
	if err != nil {
		panic(err)
	}
	return b
}

// Config is exec.DefaultConfig for the fixture's chain, with its suite.
func (f *Fixture) Config() exec.Config {
	cfg := exec.DefaultConfig(ChainID)
	cfg.Suite = f.Suite
	return cfg
}

// S returns the signer of id, creating it (with the key f.Key(id)) for
// identities registered after genesis.
func (f *Fixture) S(id string) *Signer {
	s, ok := f.Signers[id]
	if !ok {
		s = &Signer{ID: id, Key: f.Key(id)}
		f.Signers[id] = s
	}
	return s
}

// Chain is an executor over a Store, applying and committing blocks with a
// block time that advances one second per block unless set.
type Chain struct {
	Exec   *exec.Executor
	Store  *Store
	Height uint64 // last committed
	TimeMs int64  // time of the last committed block
}

// NewChain initialises a store from the fixture's genesis.
func (f *Fixture) NewChain(cfg exec.Config) (*Chain, error) {
	e, err := exec.New(cfg)
	if err != nil {
		return nil, err
	}
	ch, err := e.InitGenesis(f.Genesis)
	if err != nil {
		return nil, err
	}
	st := NewStore()
	st.Apply(ch)
	return &Chain{Exec: e, Store: st, TimeMs: GenesisTimeMs - 1000}, nil
}

// Header returns the header of the next block at time t.
func (c *Chain) Header(t int64) *pb.Header {
	return &pb.Header{ChainId: ChainID, Height: c.Height + 1, TimeUnixMs: t}
}

// Apply executes txs as the next block, one second after the last, and
// commits it.
func (c *Chain) Apply(txs ...[]byte) (*exec.BlockResult, error) {
	return c.ApplyAt(c.TimeMs+1000, txs...)
}

// ApplyAt executes txs as the next block at time t (ms) and commits it.
func (c *Chain) ApplyAt(t int64, txs ...[]byte) (*exec.BlockResult, error) {
	res, err := c.Exec.ApplyBlock(c.Store, c.Header(t), txs)
	if err != nil {
		return nil, err
	}
	c.Store.Apply(res.Changes)
	c.Height++
	c.TimeMs = t
	return res, nil
}
