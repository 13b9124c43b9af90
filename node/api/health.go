package api

// Health and discovery (ARCHITECTURE.md §6, "Health and discovery"):
// /healthz and /readyz for load balancers, service managers and
// orchestrators, the standard gRPC health service for gRPC clients, and
// gRPC server reflection so that grpcurl needs no .proto files. Health
// and reflection come from Connect's own packages (grpchealth,
// grpcreflect).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// Readiness is what /readyz answers, and what the gRPC health service's
// status rests on: a node is ready when it is not catching up by block
// sync and it is connected to enough validators to take part in (a
// validator) or follow (an observer) consensus.
type Readiness struct {
	Ready   bool   `json:"ready"`
	Height  uint64 `json:"height"`
	Syncing bool   `json:"syncing"`
	// Validator is true when this node is in the validator set in force.
	Validator bool `json:"validator"`
	// ConnectedValidators counts the validators this node is connected
	// to, itself included when it is one; QuorumNeeded is how many a
	// validator needs (the quorum of the set in force); an observer needs
	// one.
	ConnectedValidators int `json:"connected_validators"`
	QuorumNeeded        int `json:"quorum_needed"`
	// Reasons say why the node is not ready; empty when it is.
	Reasons []string `json:"reasons,omitempty"`
}

// readiness computes the node's Readiness now.
func (s *Server) readiness() Readiness {
	h, _ := s.d.Ledger.Height()
	r := Readiness{Height: h, Syncing: s.d.Syncing()}
	vs := s.d.Validators()
	n := len(vs.GetValidators())
	model := consensus.FaultModel(vs.GetFaultModel())
	if model == "" {
		model = consensus.FaultModel(s.d.FaultModel)
	}
	self := s.validatorIndex()
	r.Validator = self >= 0 && self < n
	connected := 0
	for _, p := range s.d.Peers() {
		if p.Member && p.Live() && int(p.ValidatorIndex) < n && int(p.ValidatorIndex) != self {
			connected++
		}
	}
	r.QuorumNeeded = 1
	if r.Validator {
		connected++
		r.QuorumNeeded = consensus.Quorum(model, n)
	}
	r.ConnectedValidators = connected
	if r.Syncing {
		r.Reasons = append(r.Reasons, "catching up by block sync")
	}
	if connected < r.QuorumNeeded {
		if r.Validator {
			r.Reasons = append(r.Reasons, fmt.Sprintf("connected to %d of %d validators (itself included), a quorum needs %d", connected, n, r.QuorumNeeded))
		} else {
			r.Reasons = append(r.Reasons, fmt.Sprintf("connected to no validator of %d", n))
		}
	}
	r.Ready = len(r.Reasons) == 0
	return r
}

// healthHandlers serves /healthz (the process is up and serving: 200 with
// {"status":"alive"}) and /readyz (200 when ready, 503 with the reasons
// when not; the Readiness as JSON either way). Only GET and HEAD.
func (s *Server) healthHandlers(mux *http.ServeMux) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeHealth(w, r, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		rd := s.readiness()
		code := http.StatusOK
		if !rd.Ready {
			code = http.StatusServiceUnavailable
		}
		writeHealth(w, r, code, rd)
	})
}

func writeHealth(w http.ResponseWriter, r *http.Request, code int, body any) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method == http.MethodGet {
		_, _ = w.Write(append(b, '\n'))
	}
}

// healthChecker is the gRPC health service's Checker: the node's API
// service, and the server as a whole (the empty name), are SERVING when
// the node is ready and NOT_SERVING when not; any other name is NotFound,
// as the protocol asks.
type healthChecker struct{ s *Server }

func (c healthChecker) Check(_ context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	switch req.Service {
	case "", govnodev1connect.NodeServiceName:
	default:
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("unknown service %q: this node serves %q", req.Service, govnodev1connect.NodeServiceName))
	}
	if c.s.readiness().Ready {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
}

// The paths of the gRPC health service and of server reflection.
const (
	grpcHealthPath         = "/" + grpchealth.HealthV1ServiceName + "/"
	grpcReflectV1Path      = "/grpc.reflection.v1.ServerReflection/"
	grpcReflectV1AlphaPath = "/grpc.reflection.v1alpha.ServerReflection/"
	// healthReadMaxBytes bounds a health check or reflection request: a
	// service or symbol name, far below it.
	healthReadMaxBytes = 16 << 10
	// MaxReflectionRequests bounds the requests of one reflection stream.
	// The gate charges a stream once, as one call, and the stream lives
	// until api.read_timeout_ms: without a bound, one anonymous caller's
	// stream asked for descriptors as fast as it could send, with a single
	// rate-limit token. grpcurl's list or describe sends a few.
	MaxReflectionRequests = 64
)

// grpcServices registers the gRPC health service and server reflection
// (v1 and v1alpha, which grpcurl still tries first) on mux; they go
// through the same gate as the API (caller, rate limits).
func (s *Server) grpcServices(mux *http.ServeMux, opts ...connect.HandlerOption) {
	mux.Handle(grpchealth.NewHandler(healthChecker{s}, opts...))
	reflector := grpcreflect.NewStaticReflector(govnodev1connect.NodeServiceName, grpchealth.HealthV1ServiceName)
	ropts := append(slices.Clone(opts), connect.WithInterceptors(streamBound{MaxReflectionRequests}))
	mux.Handle(grpcreflect.NewHandlerV1(reflector, ropts...))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, ropts...))
}

// streamBound refuses a handler stream's messages past max with
// resource_exhausted, which ends the stream.
type streamBound struct{ max int }

func (b streamBound) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc { return next }

func (b streamBound) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (b streamBound) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, &boundedConn{StreamingHandlerConn: conn, left: b.max})
	}
}

type boundedConn struct {
	connect.StreamingHandlerConn
	left int
}

func (c *boundedConn) Receive(m any) error {
	if c.left <= 0 {
		return connect.NewError(connect.CodeResourceExhausted,
			fmt.Errorf("at most %d requests in one reflection stream: open another", MaxReflectionRequests))
	}
	c.left--
	return c.StreamingHandlerConn.Receive(m)
}

// ReadinessCollector exports the readiness at scrape time, by the rule
// /readyz answers with: govnode_ready (1 or 0),
// govnode_consensus_validators_connected and govnode_consensus_quorum (a
// validator's count includes itself; an observer's quorum is 1), so that
// an alert compares the two without a hand-set constant.
func (s *Server) ReadinessCollector() prometheus.Collector { return readinessCollector{s} }

var (
	readyDesc     = prometheus.NewDesc("govnode_ready", "1 when the node is ready (/readyz: not catching up, connected to a quorum of validators), else 0.", nil, nil)
	connectedDesc = prometheus.NewDesc("govnode_consensus_validators_connected", "Validators of the set in force this node is connected to and hears from, itself included when it is one.", nil, nil)
	quorumDesc    = prometheus.NewDesc("govnode_consensus_quorum", "Validators a quorum of the set in force needs (1 for an observer, which needs one to follow).", nil, nil)
)

type readinessCollector struct{ s *Server }

func (c readinessCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- readyDesc
	ch <- connectedDesc
	ch <- quorumDesc
}

func (c readinessCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.s.readiness()
	ready := 0.0
	if r.Ready {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, ready)
	ch <- prometheus.MustNewConstMetric(connectedDesc, prometheus.GaugeValue, float64(r.ConnectedValidators))
	ch <- prometheus.MustNewConstMetric(quorumDesc, prometheus.GaugeValue, float64(r.QuorumNeeded))
}
