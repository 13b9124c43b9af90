package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/api"
	"github.com/govnode/govnode/node/payloads"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// accessSigner is the identity a validator node puts access entries on
// chain with (api.AccessSigner; docs/ARCHITECTURE.md §6, "Who can read
// what"): its department's validator identity, which is keyed by the
// department's consensus key, so the node holds its key already (the
// evidence pool signs with it too, exec.ValidatorIdentityID).
type accessSigner struct{ n *Node }

var _ api.AccessSigner = accessSigner{}

func (a accessSigner) AccessSigner(r exec.Reader) (string, crypto.PrivateKey, error) {
	n := a.n
	i := n.validatorIndex()
	if i < 0 {
		return "", nil, errors.New("this node is not a validator of the set in force")
	}
	vs, _ := n.app.Validators()
	id := exec.ValidatorIdentityID(vs.GetValidators()[i].GetId())
	idn, err := exec.Identity(r, id)
	if err != nil {
		return "", nil, fmt.Errorf("validator identity %s: %w", id, err)
	}
	if idn.GetStatus() != pb.IdentityStatus_IDENTITY_STATUS_ACTIVE {
		return "", nil, fmt.Errorf("validator identity %s is not active", id)
	}
	for _, k := range append([]crypto.PrivateKey{n.signer}, n.pendingKeys...) {
		if crypto.PublicKeyEqual(k.Public(), idn.GetPublicKey()) {
			return id, k, nil
		}
	}
	return "", nil, fmt.Errorf("validator identity %s is keyed by none of this node's consensus keys", id)
}

// accessSigner is the API's AccessSigner: nil on an observer, which has
// no validator identity to sign access entries with.
func (n *Node) accessSigner() api.AccessSigner {
	if n.signer == nil {
		return nil
	}
	return accessSigner{n}
}

// fetchPayloads asks the connected member peers, one after another, for
// the payloads of commitments (payloads.Deps.Fetch): each peer is asked
// for what the ones before did not have. A peer that answers with a
// payload that does not open its commitment is skipped (p2p checks every
// payload).
func (n *Node) fetchPayloads(ctx context.Context, commitments [][]byte) ([]*pb.Payload, error) {
	out := make([]*pb.Payload, len(commitments))
	missing := make([]int, len(commitments))
	for i := range missing {
		missing[i] = i
	}
	var errs []error
	self := n.host.ID()
	for _, p := range n.host.Peers() {
		if !p.Member || !p.Connected || p.ID == self || len(missing) == 0 {
			continue
		}
		ask := make([][]byte, len(missing))
		for j, i := range missing {
			ask[j] = commitments[i]
		}
		got, err := n.host.RequestPayloads(ctx, p.ID, ask)
		if err != nil {
			errs = append(errs, fmt.Errorf("peer %s: %w", p.ID, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		var still []int
		for j, i := range missing {
			if j < len(got) && got[j] != nil {
				out[i] = got[j]
			} else {
				still = append(still, i)
			}
		}
		missing = still
	}
	if len(missing) == len(commitments) && len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	return out, nil
}

// payloadSource serves member peers through the payload manager
// (payloads.Manager.Payloads: only payloads a committed record that is
// not erased commits to); the host is built before the manager.
type payloadSource struct{ n *Node }

func (s payloadSource) Payloads(commitments [][]byte) []*pb.Payload {
	if s.n.payloads == nil {
		return nil
	}
	return s.n.payloads.Payloads(commitments)
}

// registerPayloadMetrics exports the payload manager's counters
// (payloads.Stats), read at scrape time: an operator sees payloads that
// no member peer has (wanted, fetch failures) and that erasures ran.
func registerPayloadMetrics(reg *prometheus.Registry, m *payloads.Manager) {
	gauge := func(name, help string, f func(payloads.Stats) float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(m.Stats()) }))
	}
	counter := func(name, help string, f func(payloads.Stats) uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(m.Stats())) }))
	}
	gauge("govnode_payloads_wanted", "Protected payloads of committed versions this node lacks and is fetching from member peers.",
		func(s payloads.Stats) float64 { return float64(s.Wanted) })
	gauge("govnode_payloads_pending", "Payloads accepted with a tx that no committed version binds yet.",
		func(s payloads.Stats) float64 { return float64(s.Pending) })
	for _, c := range []struct {
		name, help string
		f          func(payloads.Stats) uint64
	}{
		{"govnode_payloads_accepted_total", "Payloads stored from SubmitTx.", func(s payloads.Stats) uint64 { return s.Accepted }},
		{"govnode_payloads_fetched_total", "Payloads fetched from member peers after their commit.", func(s payloads.Stats) uint64 { return s.Fetched }},
		{"govnode_payloads_fetched_on_demand_total", "Payloads fetched from member peers at read time.", func(s payloads.Stats) uint64 { return s.FetchedOnDemand }},
		{"govnode_payloads_fetch_failures_total", "Wanted payloads a fetch round did not get.", func(s payloads.Stats) uint64 { return s.FetchFailures }},
		{"govnode_payloads_erased_total", "Payloads deleted (and compacted away) because their record was erased.", func(s payloads.Stats) uint64 { return s.Erased }},
		{"govnode_payloads_expired_total", "Accepted payloads deleted because no committed version bound them in time.", func(s payloads.Stats) uint64 { return s.Expired }},
	} {
		counter(c.name, c.help, c.f)
	}
}
