package api

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// GetRecordBundle: being built (issue 21); refuses until then.
func (s *Server) GetRecordBundle(ctx context.Context, req *connect.Request[pb.GetRecordBundleRequest]) (*connect.Response[pb.GetRecordBundleResponse], error) {
	return nil, connect.NewError(connect.CodeUnimplemented, errors.New("GetRecordBundle is not built yet"))
}
