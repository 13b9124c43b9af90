package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/ledger/exec/exectest"
	"github.com/govnode/govnode/node/clientcert"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// expiringStream is a node whose first StreamEvents call delivers height 1
// and then ends Unauthenticated, as a node does when the caller's client
// certificate expires; later calls deliver from the height asked.
type expiringStream struct {
	govnodev1connect.UnimplementedNodeServiceHandler
	calls atomic.Int32
}

func (s *expiringStream) StreamEvents(ctx context.Context, req *connect.Request[pb.StreamEventsRequest], st *connect.ServerStream[pb.StreamEventsResponse]) error {
	call := s.calls.Add(1)
	h := req.Msg.GetFromHeight()
	ev := &pb.StreamEventsResponse{Height: h, BlockHash: bytes.Repeat([]byte{byte(h)}, 32), Events: []*pb.Event{{Height: h,
		Kind: &pb.Event_Governance{Governance: &pb.GovernanceEvent{Action: "evidence_recorded", DepartmentId: "dept0"}}}}}
	if err := st.Send(ev); err != nil {
		return err
	}
	if call == 1 {
		return connect.NewError(connect.CodeUnauthenticated, errors.New("client certificate expired"))
	}
	return nil
}

// A long authenticated `govnode events` stream that the node ends when its
// client certificate expires reconnects on a new TLS connection, which
// issues a fresh certificate, and resumes without a gap; an Unauthenticated
// end soon after a renewal is final.
func TestEventsRenewClientCertificate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		gap         time.Duration
		wantErr     bool
		wantHandsh  int32
		wantHeights string
	}{
		{"expired: renewed on a new connection", time.Nanosecond, false, 2, "12"},
		{"refused soon after the start: final", time.Hour, true, 1, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(g time.Duration) { certRenewGap = g }(certRenewGap)
			certRenewGap = tc.gap
			srv := &expiringStream{}
			path, h := govnodev1connect.NewNodeServiceHandler(srv)
			mux := http.NewServeMux()
			mux.Handle(path, h)
			ts := httptest.NewUnstartedServer(mux)
			ts.EnableHTTP2 = true
			var conns atomic.Int32
			ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			ts.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
			ts.StartTLS()
			defer ts.Close()
			ca := filepath.Join(t.TempDir(), "ca.pem")
			if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
				t.Fatal(err)
			}
			var handshakes atomic.Int32
			key := exectest.NewKey("events-renew")
			sc, err := client.Dial(ts.URL, client.WithCAFile(ca), client.WithClientCertificate(func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				handshakes.Add(1)
				return clientcert.Issue(key, "dept0-official", time.Now(), time.Hour)
			}))
			if err != nil {
				t.Fatal(err)
			}
			n := newNodeConn(sc, nil)
			var out, errOut bytes.Buffer
			cmd := &cobra.Command{}
			cmd.SetOut(&out)
			cmd.SetErr(&errOut)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c := &cli{output: "json"}
			err = c.followEvents(ctx, cmd, n, &eventsOpts{from: 1, to: 2, reconnect: true})
			if (err != nil) != tc.wantErr {
				t.Fatalf("followEvents: %v (stderr %s)", err, errOut.String())
			}
			heights := ""
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				switch {
				case strings.Contains(line, `"height":"1"`) || strings.Contains(line, `"height":1`):
					heights += "1"
				case strings.Contains(line, `"height":"2"`) || strings.Contains(line, `"height":2`):
					heights += "2"
				}
			}
			if heights != tc.wantHeights || handshakes.Load() != tc.wantHandsh || conns.Load() != tc.wantHandsh {
				t.Fatalf("heights %q, %d handshakes with a certificate, %d connections; want %q and %d\nstdout %s\nstderr %s",
					heights, handshakes.Load(), conns.Load(), tc.wantHeights, tc.wantHandsh, out.String(), errOut.String())
			}
		})
	}
}
