package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/node/portal"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// listenPortal binds the public verification page when portal.listen_addr
// is set (node/portal): over TLS with the API's pair when there is one.
func (n *Node) listenPortal(t *ListenerTLS) error {
	p := n.cfg.Portal
	if p.ListenAddr == "" {
		return nil
	}
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	a := n.cfg.API
	requests := portal.NewRequestsMetric()
	if err := n.metrics.Registry.Register(requests); err != nil {
		return fmt.Errorf("portal metrics: %w", err)
	}
	srv, err := portal.Listen(portal.Config{
		Addr: p.ListenAddr, TLS: t.API, Insecure: p.Insecure, PublicURL: p.PublicURL, MaxConns: p.MaxConns,
		ReadHeaderTimeout: ms(a.ReadHeaderTimeoutMs), ReadTimeout: ms(a.ReadTimeoutMs),
		WriteTimeout: ms(a.WriteTimeoutMs), IdleTimeout: ms(a.IdleTimeoutMs),
		Rate: float64(p.RateLimitRPS), Burst: p.RateLimitBurst, MaxKeys: p.RateLimitMaxKeys, MaxBundleBuilds: p.MaxBundleBuilds,
	}, portal.Deps{GenesisHash: n.genesisHash, Bundle: n.portalBundle, Logger: n.log.With("part", "portal"),
		Metrics: portal.Metrics{
			OpenConns: n.metrics.HTTPOpenConns.WithLabelValues("portal"), ConnsRefused: n.metrics.HTTPConnsRefused.WithLabelValues("portal"),
			Requests: requests,
		}})
	if err != nil {
		return err
	}
	n.portal = srv
	n.log.Info("public portal", "url", srv.URL())
	return nil
}

// portalBundle is a record's proof bundle as the API assembles it for an
// anonymous caller (the context carries no identity): content of public
// records only.
func (n *Node) portalBundle(ctx context.Context, id string) ([]byte, error) {
	resp, err := n.api.GetRecordBundle(ctx, connect.NewRequest(&pb.GetRecordBundleRequest{RecordId: id}))
	switch connect.CodeOf(err) {
	case connect.CodeNotFound:
		return nil, fmt.Errorf("%w: %v", portal.ErrNotFound, err)
	case connect.CodeInvalidArgument:
		return nil, fmt.Errorf("%w: %v", portal.ErrBadID, err)
	case connect.CodeResourceExhausted:
		// The call is in process: no rate limit or backlog answers it,
		// only the node's bound on bundles built at once, which says when
		// to retry, or the bundle limits, which no retry changes.
		if retryable(err) {
			return nil, fmt.Errorf("%w: %v", portal.ErrBusy, err)
		}
		return nil, fmt.Errorf("%w: %v", portal.ErrTooLarge, err)
	}
	if err != nil {
		return nil, err
	}
	return proto.Marshal(resp.Msg.GetBundle())
}

// retryable: err carries a RetryInfo (api's refusals that a retry may
// outlive).
func retryable(err error) bool {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return false
	}
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if _, ok := v.(*errdetails.RetryInfo); ok {
				return true
			}
		}
	}
	return false
}

// PortalURL is the portal's base URL, empty when it is off.
func (n *Node) PortalURL() string {
	if n.portal == nil {
		return ""
	}
	return n.portal.URL()
}
