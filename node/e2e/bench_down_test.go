package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// `govnode bench` on a network with a node down loads the live nodes and
// reports the dead one, where it refused to start (issue 22 item 8).
func TestBenchWithANodeDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four node processes")
	}
	c := newCluster(t, 4, "byzantine")
	c.kill(3, syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "bench", "--testnet", c.dir, "--rate", "40", "--duration", "2s", "--grace", "20s",
		"--timeout", "3s", "--output", "json")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("bench with node3 down: %v\n%s\n%s", err, out, stderr)
	}
	var rep struct {
		Committed int `json:"committed"`
		Nodes     int `json:"nodes"`
		Down      []struct {
			Name, API, Error string
		} `json:"down_nodes"`
		NodeStats []struct {
			Name      string `json:"name"`
			Submitted int    `json:"submitted"`
		} `json:"node_stats"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("bench report: %v\n%s", err, out)
	}
	if len(rep.Down) != 1 || rep.Down[0].Name != "node3" || rep.Down[0].API != c.apis[3] || rep.Down[0].Error == "" {
		t.Fatalf("down_nodes %+v, want node3 at %s with the reason", rep.Down, c.apis[3])
	}
	if rep.Nodes != 3 || len(rep.NodeStats) != 3 || rep.Committed == 0 {
		t.Fatalf("bench loaded %d nodes (%d stats), committed %d; want the 3 live nodes loaded and txs committed:\n%s", rep.Nodes, len(rep.NodeStats), rep.Committed, out)
	}
	for _, s := range rep.NodeStats {
		if s.Name == "node3" || s.Submitted == 0 {
			t.Errorf("node stats %+v: want each live node loaded, node3 not", rep.NodeStats)
		}
	}
}
