package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// getJSON GETs url and decodes the JSON answer into a map.
func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("GET %s: %d %q is not JSON: %v", url, resp.StatusCode, body, err)
	}
	return resp.StatusCode, m
}

// h2cClient speaks HTTP/2 without TLS, as gRPC clients do to a plaintext
// port (server reflection is a bidirectional stream).
func h2cClient(t *testing.T) *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// describes reports whether services include service with method.
func describes(services []*descriptorpb.ServiceDescriptorProto, service, method string) bool {
	for _, s := range services {
		if s.GetName() == service {
			return slices.ContainsFunc(s.GetMethod(), func(m *descriptorpb.MethodDescriptorProto) bool { return m.GetName() == method })
		}
	}
	return false
}

// livePeers counts the peers node i's status shows connected.
func (c *cluster) livePeers(i int) (int, *pb.StatusResponse) {
	c.t.Helper()
	st, err := c.status(i)
	if err != nil {
		c.t.Fatalf("status of node%d: %v", i, err)
	}
	n := 0
	for _, p := range st.GetPeers() {
		if p.GetConnected() {
			n++
		}
	}
	return n, st
}

// Health and discovery on a four-process network (issue 22 items 2 and 5):
// /healthz and /readyz on the API and metrics ports, the gRPC health
// service and server reflection with no .proto files at hand; a SIGKILLed
// peer shows disconnected in status within 5 s, with the same count in
// govnode_p2p_peers; a validator that lost its quorum is alive but not
// ready, and says why.
func TestHealthReadinessAndStatusTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four node processes")
	}
	c := newCluster(t, 4, "byzantine")
	for i := range 4 {
		for _, base := range []string{"http://" + c.apis[i], "http://" + c.metrics[i]} {
			if code, m := getJSON(t, base+"/healthz"); code != http.StatusOK || m["status"] != "alive" {
				t.Fatalf("node%d %s/healthz: %d %v", i, base, code, m)
			}
		}
	}
	// Ready once every node sees every validator.
	deadline := time.Now().Add(20 * time.Second)
	for i := range 4 {
		for {
			code, m := getJSON(t, "http://"+c.apis[i]+"/readyz")
			if code == http.StatusOK && m["ready"] == true && m["connected_validators"] == 4.0 && m["quorum_needed"] == 3.0 && m["validator"] == true {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node%d /readyz: %d %v", i, code, m)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if code, m := getJSON(t, "http://"+c.metrics[0]+"/readyz"); code != http.StatusOK || m["ready"] != true {
		t.Fatalf("node0 /readyz on the metrics port: %d %v", code, m)
	}
	if c.metric(0, "govnode_ready") != 1 || c.metric(0, "govnode_consensus_validators_connected") != 4 || c.metric(0, "govnode_consensus_quorum") != 3 {
		t.Fatalf("readiness metrics: ready %v, connected %v, quorum %v", c.metric(0, "govnode_ready"),
			c.metric(0, "govnode_consensus_validators_connected"), c.metric(0, "govnode_consensus_quorum"))
	}
	resp, err := http.Post("http://"+c.apis[0]+"/readyz", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz: %d, want 405", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := "http://" + c.apis[0]
	for _, opts := range [][]connect.ClientOption{nil, {connect.WithGRPC()}} {
		health := grpchealth.NewClient(h2cClient(t), url, opts...)
		for _, svc := range []string{"", "govnode.v1.NodeService"} {
			r, err := health.Check(ctx, &grpchealth.CheckRequest{Service: svc})
			if err != nil || r.Status != grpchealth.StatusServing {
				t.Fatalf("health check %q (%d options): %v %v", svc, len(opts), r, err)
			}
		}
		if _, err := health.Check(ctx, &grpchealth.CheckRequest{Service: "no.such.Service"}); connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("health check of an unknown service: %v, want not_found", err)
		}
	}
	stream := grpcreflect.NewClient(h2cClient(t), url).NewStream(ctx)
	names, err := stream.ListServices()
	if err != nil {
		t.Fatalf("reflection: list services: %v", err)
	}
	for _, want := range []string{"govnode.v1.NodeService", "grpc.health.v1.Health"} {
		if !slices.ContainsFunc(names, func(n protoreflect.FullName) bool { return string(n) == want }) {
			t.Errorf("reflection lists %v, without %s", names, want)
		}
	}
	fd, err := stream.FileContainingSymbol("govnode.v1.NodeService")
	if err != nil || len(fd) == 0 || !describes(fd[0].GetService(), "NodeService", "GetRecordBundle") {
		t.Errorf("reflection: the file describing NodeService: %v (%d files)", err, len(fd))
	}
	if _, err := stream.FileContainingSymbol("govnode.v1.NoSuchThing"); err == nil {
		t.Error("reflection described a symbol that does not exist")
	}
	_, _ = stream.Close()

	// A SIGKILLed peer: shown disconnected within 5 s, the metric agreeing.
	if n, _ := c.livePeers(0); n != 3 {
		t.Fatalf("node0 shows %d live peers before the kill, want 3", n)
	}
	c.kill(3, syscall.SIGKILL)
	killed := time.Now()
	for {
		n, _ := c.livePeers(0)
		if n == 2 {
			break
		}
		if time.Since(killed) > 5*time.Second {
			t.Fatalf("node0 still shows %d live peers %v after node3 was SIGKILLed, want 2 within 5 s", n, time.Since(killed))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("node3 shown disconnected %v after SIGKILL", time.Since(killed).Round(time.Millisecond))
	if n, _ := c.livePeers(0); n != 2 || c.metric(0, "govnode_p2p_peers") != 2 {
		t.Fatalf("node0: status shows %d live peers, govnode_p2p_peers %v; want both 2", n, c.metric(0, "govnode_p2p_peers"))
	}
	// Three of four validators are a quorum still.
	if code, m := getJSON(t, url+"/readyz"); code != http.StatusOK || m["connected_validators"] != 3.0 {
		t.Fatalf("/readyz with one validator down: %d %v", code, m)
	}

	// Two down: alive, not ready, and why.
	c.kill(2, syscall.SIGKILL)
	deadline = time.Now().Add(10 * time.Second)
	for {
		code, m := getJSON(t, url+"/readyz")
		if code == http.StatusServiceUnavailable {
			reasons, _ := m["reasons"].([]any)
			if m["ready"] != false || m["connected_validators"] != 2.0 || len(reasons) != 1 {
				t.Fatalf("/readyz without quorum: %v", m)
			}
			t.Logf("/readyz without quorum: %v", reasons[0])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %v with two of four validators down", code, m)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _ := getJSON(t, url+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz without quorum: %d, want 200 (alive)", code)
	}
	if c.metric(0, "govnode_ready") != 0 || c.metric(0, "govnode_consensus_validators_connected") != 2 || c.metric(0, "govnode_consensus_quorum") != 3 {
		t.Errorf("readiness metrics without quorum: ready %v, connected %v, quorum %v", c.metric(0, "govnode_ready"),
			c.metric(0, "govnode_consensus_validators_connected"), c.metric(0, "govnode_consensus_quorum"))
	}
	r, err := grpchealth.NewClient(h2cClient(t), url).Check(ctx, &grpchealth.CheckRequest{})
	if err != nil || r.Status != grpchealth.StatusNotServing {
		t.Errorf("gRPC health without quorum: %v %v, want NOT_SERVING", r, err)
	}
}
