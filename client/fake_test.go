package client_test

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"connectrpc.com/connect"

	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// fakeNode is a scripted NodeService for the client's bad paths: what a
// real node does rarely or only under load (backpressure, a nonce taken
// by another client, a stream that breaks and resends) on demand.
type fakeNode struct {
	govnodev1connect.UnimplementedNodeServiceHandler

	mu        sync.Mutex
	chainID   string
	lastNonce uint64 // committed nonce of every signer
	submits   []*pb.SubmitTxRequest
	submitErr []error // answered to the next submits, in order; nil admits
	stream    func(ctx context.Context, req *pb.StreamEventsRequest, s *connect.ServerStream[pb.StreamEventsResponse]) error
	streams   []*pb.StreamEventsRequest
}

func (f *fakeNode) Status(context.Context, *connect.Request[pb.StatusRequest]) (*connect.Response[pb.StatusResponse], error) {
	return connect.NewResponse(&pb.StatusResponse{ChainId: f.chainID, Height: 1}), nil
}

func (f *fakeNode) QueryState(_ context.Context, req *connect.Request[pb.QueryStateRequest]) (*connect.Response[pb.QueryStateResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lastNonce == 0 {
		return connect.NewResponse(&pb.QueryStateResponse{}), nil
	}
	return connect.NewResponse(&pb.QueryStateResponse{Found: true, Value: binary.BigEndian.AppendUint64(nil, f.lastNonce)}), nil
}

func (f *fakeNode) SubmitTx(_ context.Context, req *connect.Request[pb.SubmitTxRequest]) (*connect.Response[pb.SubmitTxResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submits = append(f.submits, req.Msg)
	if len(f.submitErr) > 0 {
		err := f.submitErr[0]
		f.submitErr = f.submitErr[1:]
		if err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(&pb.SubmitTxResponse{}), nil
}

func (f *fakeNode) StreamEvents(ctx context.Context, req *connect.Request[pb.StreamEventsRequest], s *connect.ServerStream[pb.StreamEventsResponse]) error {
	f.mu.Lock()
	f.streams = append(f.streams, req.Msg)
	f.mu.Unlock()
	return f.stream(ctx, req.Msg, s)
}

func (f *fakeNode) submitted() []*pb.SubmitTxRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*pb.SubmitTxRequest(nil), f.submits...)
}

// start serves f on an ephemeral port and returns its URL.
func (f *fakeNode) start(t *testing.T) string {
	t.Helper()
	if f.chainID == "" {
		f.chainID = "fake"
	}
	mux := http.NewServeMux()
	mux.Handle(govnodev1connect.NewNodeServiceHandler(f))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}
