package exec

import (
	"errors"
	"fmt"
	"slices"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// GenesisHeight is the height of the genesis state; the first block is 1
// and the genesis validator set is effective from it.
const GenesisHeight = 0

// InitGenesis checks a genesis document and returns the initial state:
// params, the departments (doc.validators) and the validator set effective
// from height 1, the initial identities (their status defaults to active;
// officials must belong to a genesis department), record types and
// contract templates (every expression compiled), and the departments'
// opening budgets (GenesisDoc.budgets: genesis departments, balance > 0,
// each once). It reads nothing: the state before genesis is empty. Errors
// wrap ErrInvalidGenesis.
func (e *Executor) InitGenesis(doc *pb.GenesisDoc) ([]Change, error) {
	if err := e.initGenesis(doc); err != nil {
		var te *txError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%w: %s", ErrInvalidGenesis, te.reason)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidGenesis, err)
	}
	st := newOverlay(emptyKV{})
	tc := &txCtx{e: e, b: &blockCtx{st: st, height: GenesisHeight}, st: st}
	if err := st.putMsg(keyParams, doc.GetParams()); err != nil {
		return nil, err
	}
	for _, d := range doc.GetValidators() {
		if err := st.putMsg(kDept(d.GetId()), d); err != nil {
			return nil, err
		}
	}
	vs := &pb.ValidatorSet{Validators: doc.GetValidators(), FaultModel: doc.GetFaultModel(), EffectiveHeight: GenesisHeight + 1}
	if err := st.putMsg(kValset(vs.GetEffectiveHeight()), vs); err != nil {
		return nil, err
	}
	for _, t := range doc.GetRecordTypes() {
		if err := st.putMsg(kRecordType(t.GetId()), t); err != nil {
			return nil, err
		}
	}
	for _, t := range doc.GetContractTemplates() {
		if err := st.putMsg(kTemplate(t.GetId()), t); err != nil {
			return nil, err
		}
	}
	// Opening budgets (ARCHITECTURE.md §5, "Budgets and payments"): the
	// founding funding, so funded = balance.
	for _, b := range doc.GetBudgets() {
		if err := st.putMsg(kBudget(b.GetDepartmentId()), &pb.Budget{
			DepartmentId: b.GetDepartmentId(), Balance: b.GetBalance(), Funded: b.GetBalance(), UpdatedHeight: GenesisHeight,
		}); err != nil {
			return nil, err
		}
	}
	for _, idn := range doc.GetIdentities() {
		idn := cloneIdentity(idn)
		if idn.Status == pb.IdentityStatus_IDENTITY_STATUS_UNSPECIFIED {
			idn.Status = pb.IdentityStatus_IDENTITY_STATUS_ACTIVE
		}
		if err := tc.putNewIdentity(idn); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidGenesis, err)
		}
	}
	return st.changes()
}

func (e *Executor) initGenesis(doc *pb.GenesisDoc) error {
	if doc == nil {
		return errors.New("nil document")
	}
	if doc.GetChainId() != e.cfg.ChainID {
		return fmt.Errorf("chain id %q, executor is for %q", doc.GetChainId(), e.cfg.ChainID)
	}
	if s, err := crypto.SuiteByName(doc.GetCryptoSuite()); err != nil {
		return err
	} else if s != e.cfg.Suite {
		return fmt.Errorf("crypto suite %s, executor is for %s", s, e.cfg.Suite)
	}
	if fm := doc.GetFaultModel(); fm != "crash" && fm != "byzantine" {
		return fmt.Errorf("fault model %q (want crash or byzantine)", fm)
	}
	if err := ValidateGenesisParams(doc.GetParams()); err != nil {
		return err
	}
	if len(doc.GetValidators()) == 0 {
		return errors.New("no validators")
	}
	var depts []string
	for i, d := range doc.GetValidators() {
		if err := validateDepartment(e.cfg.Suite, d); err != nil {
			return fmt.Errorf("validator %d: %w", i, err)
		}
		if err := e.checkPeerBinding("peer binding", d.GetId(), d.GetPeerId(), d.GetConsensusKey(), d.GetPeerBinding()); err != nil {
			return fmt.Errorf("validator %d: %w", i, err)
		}
		if slices.Contains(depts, d.GetId()) {
			return fmt.Errorf("department %s listed twice", d.GetId())
		}
		for _, o := range doc.GetValidators()[:i] {
			if crypto.PublicKeyEqual(o.GetConsensusKey(), d.GetConsensusKey()) {
				return fmt.Errorf("departments %s and %s share a consensus key", o.GetId(), d.GetId())
			}
		}
		depts = append(depts, d.GetId())
	}
	isMember := func(id string) (bool, error) { return slices.Contains(depts, id), nil }
	var types []string
	for _, t := range doc.GetRecordTypes() {
		if err := validateRecordTypeShape(t); err != nil {
			return err
		}
		if err := validateRecordTypeDepartments(t, isMember); err != nil {
			return err
		}
		if slices.Contains(types, t.GetId()) {
			return fmt.Errorf("record type %s listed twice", t.GetId())
		}
		types = append(types, t.GetId())
	}
	var tmpls []string
	for _, t := range doc.GetContractTemplates() {
		if err := e.cel.validateTemplate(t); err != nil {
			return err
		}
		if slices.Contains(tmpls, t.GetId()) {
			return fmt.Errorf("contract template %s listed twice", t.GetId())
		}
		tmpls = append(tmpls, t.GetId())
	}
	var funded []string
	for i, b := range doc.GetBudgets() {
		if err := validateGenesisBudget(b, depts); err != nil {
			return fmt.Errorf("budget %d: %w", i, err)
		}
		if slices.Contains(funded, b.GetDepartmentId()) {
			return fmt.Errorf("budget of department %s listed twice", b.GetDepartmentId())
		}
		funded = append(funded, b.GetDepartmentId())
	}
	for _, idn := range doc.GetIdentities() {
		if err := validateGenesisIdentity(e.cfg.Suite, idn, depts, types); err != nil {
			return fmt.Errorf("identity %q: %w", idn.GetId(), err)
		}
	}
	return nil
}

// validateGenesisBudget checks an opening budget: a genesis department,
// balance > 0, funded unset or equal to it, no height.
func validateGenesisBudget(b *pb.Budget, depts []string) error {
	if b == nil {
		return errors.New("null")
	}
	if !slices.Contains(depts, b.GetDepartmentId()) {
		return fmt.Errorf("department %q is not a genesis department", b.GetDepartmentId())
	}
	if b.GetBalance() <= 0 {
		return fmt.Errorf("department %s: balance %d, want > 0", b.GetDepartmentId(), b.GetBalance())
	}
	if f := b.GetFunded(); f != 0 && f != b.GetBalance() {
		return fmt.Errorf("department %s: funded %d differs from the opening balance %d", b.GetDepartmentId(), f, b.GetBalance())
	}
	if b.GetUpdatedHeight() != 0 {
		return fmt.Errorf("department %s: updated_height must be empty in genesis", b.GetDepartmentId())
	}
	return nil
}

func validateGenesisIdentity(suite crypto.Suite, idn *pb.Identity, depts, types []string) error {
	if err := checkID("identity id", idn.GetId()); err != nil {
		return err
	}
	if err := checkName("display name", idn.GetDisplayName()); err != nil {
		return err
	}
	if err := checkPublicKey(suite, "public key", idn.GetPublicKey()); err != nil {
		return err
	}
	if !slices.Contains(depts, idn.GetDepartmentId()) {
		return fmt.Errorf("department %q is not a genesis department", idn.GetDepartmentId())
	}
	switch idn.GetKind() {
	case pb.IdentityKind_IDENTITY_KIND_OFFICIAL:
		if err := checkRoles(idn.GetRoles(), idn.GetIssuerRecordTypes()); err != nil {
			return err
		}
		for _, t := range idn.GetIssuerRecordTypes() {
			if !slices.Contains(types, t) {
				return fmt.Errorf("issuer record type %s is not a genesis record type", t)
			}
		}
	case pb.IdentityKind_IDENTITY_KIND_CITIZEN, pb.IdentityKind_IDENTITY_KIND_COMPANY:
		if len(idn.GetRoles()) > 0 || len(idn.GetIssuerRecordTypes()) > 0 {
			return errors.New("only officials hold roles")
		}
	default:
		return fmt.Errorf("kind %v", idn.GetKind())
	}
	if s := idn.GetStatus(); s != pb.IdentityStatus_IDENTITY_STATUS_UNSPECIFIED && s != pb.IdentityStatus_IDENTITY_STATUS_ACTIVE {
		return fmt.Errorf("genesis identities are active, not %v", s)
	}
	if len(idn.GetKeyHistory()) > 0 {
		return errors.New("genesis identities have no key history")
	}
	return checkAttributes("attribute", idn.GetAttributes())
}

// emptyKV is the state before genesis.
type emptyKV struct{}

func (emptyKV) get(string) ([]byte, bool, error)                         { return nil, false, nil }
func (emptyKV) iterate(string, string, func(string, []byte) error) error { return nil }
