package containers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The layout of scripts/compose.sh's network (govnode testnet --hosts):
// node K's API at base+10K+1, published on 127.0.0.1 at the same port.
const (
	nodes      = 4
	portStride = 10
	// nodeUser is the image's user (contrib/docker/Dockerfile).
	nodeUser = "10001:10001"
)

// TestContainerNetwork builds the image with `make image`, brings up the
// four departments in containers with scripts/compose.sh under a project
// and host ports of its own, submits a record with the CLI from this
// machine and reads it, proven against the genesis, from every node; stops
// one container and sees the other three commit, then starts it again and
// sees it catch up. Everything it created (containers, their network,
// volumes, the image tag) is removed at the end, pass or fail.
//
// It needs docker and docker-compose; without them it is skipped, unless
// CI is set, where it fails. About 45 s on 2 cores once the static build
// (CGO_ENABLED=0 -trimpath, as make build) is in the Go build cache; the
// first run on a machine compiles it all, which takes minutes.
func TestContainerNetwork(t *testing.T) {
	compose := needDocker(t)
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	suffix := randomHex(t, 6)
	project := "govnode-test-" + suffix
	image := "govnode-test:" + suffix
	dir := filepath.Join(t.TempDir(), "net")
	base := freeBase(t)
	bin := filepath.Join(root, "build", "govnode")
	env := append(os.Environ(),
		"COMPOSE="+compose, "COMPOSE_DIR="+dir, "COMPOSE_PROJECT_NAME="+project, "GOVNODE_IMAGE="+image,
		"GOVNODE="+bin, "BASE_PORT="+strconv.Itoa(base), "ACCOUNTS=2")
	script := filepath.Join(root, "scripts", "compose.sh")
	apis := make([]string, nodes)
	for k := range apis {
		apis[k] = net.JoinHostPort("127.0.0.1", strconv.Itoa(base+portStride*k+1))
	}

	t0 := time.Now()
	t.Cleanup(func() { removeImage(t, image) })
	run(t, ctx, root, env, "make", "image", "IMAGE="+image)
	t.Logf("make image: %v", time.Since(t0).Round(time.Millisecond))
	checkImage(t, ctx, image)

	// Down before anything comes up: whatever up leaves half done goes too.
	t.Cleanup(func() { down(t, root, env, script, project) })
	t1 := time.Now()
	run(t, ctx, root, env, script, "up")
	t.Logf("compose up (4 nodes answering): %v", time.Since(t1).Round(time.Millisecond))
	checkVolumes(t, ctx, project)

	cli := func(args ...string) (string, error) {
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		return output(cctx, root, env, bin, append(args, "--testnet", dir)...)
	}
	// submit creates record id through node k, signed by its department's
	// official, and waits for its commit.
	submit := func(k int, id string) {
		t.Helper()
		out, err := cli("tx", "record", "create", "--node", apis[k], "--signer", fmt.Sprintf("dept%d-official", k),
			"--id", id, "--type", "land_title", "--subject", "account1", "--content", "parcel "+id, "--wait")
		if err != nil || !strings.Contains(out, "RESULT_CODE_OK") {
			t.Fatalf("tx record create %s through node%d: %v\n%s", id, k, err, out)
		}
	}
	// committedOn waits until every node in ks answers record id with a
	// proof verified against the genesis.
	committedOn := func(id string, ks ...int) {
		t.Helper()
		for _, k := range ks {
			var out string
			var err error
			deadline := time.Now().Add(30 * time.Second)
			for {
				out, err = cli("query", "record", id, "--node", apis[k], "--prove")
				if err == nil && strings.Contains(out, "proof verified") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("record %s on node%d: %v\n%s", id, k, err, out)
				}
				time.Sleep(300 * time.Millisecond)
			}
		}
	}

	t2 := time.Now()
	submit(0, "land-1")
	committedOn("land-1", 0, 1, 2, 3)
	for k := range nodes {
		if h := statusHeight(t, cli, apis[k], 3); h < 1 {
			t.Fatalf("node%d at height %d after a commit", k, h)
		}
	}
	t.Logf("a record committed and proven on 4 nodes: %v", time.Since(t2).Round(time.Millisecond))

	// One department's container goes; the other three are a quorum.
	t3 := time.Now()
	run(t, ctx, root, env, script, "kill", "3")
	if out, err := cli("status", "--node", apis[3], "--timeout", "2s"); err == nil {
		t.Fatalf("node3 answers after its container was killed:\n%s", out)
	}
	submit(1, "land-2")
	committedOn("land-2", 0, 1, 2)
	t.Logf("node3 killed, a record committed on the other 3: %v", time.Since(t3).Round(time.Millisecond))

	// It comes back from its volume and catches up.
	t4 := time.Now()
	run(t, ctx, root, env, script, "start", "3")
	committedOn("land-2", 3)
	committedOn("land-1", 3)
	t.Logf("node3 restarted and caught up: %v", time.Since(t4).Round(time.Millisecond))
}

// needDocker is the compose command to use: docker-compose, else the
// docker compose plugin. Without docker, a reachable daemon or compose it
// skips the test, or fails it when CI is set (to anything but false or 0).
func needDocker(t *testing.T) string {
	t.Helper()
	missing := func(why string) {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("CI is set and %s: the container test must run in CI", why)
		}
		t.Skipf("%s (set CI to make this a failure)", why)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		missing("docker is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		missing(fmt.Sprintf("the docker daemon does not answer: %v: %s", err, bytes.TrimSpace(out)))
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return "docker-compose"
	}
	if err := exec.CommandContext(ctx, "docker", "compose", "version").Run(); err == nil {
		return "docker compose"
	}
	missing("neither docker-compose nor the docker compose plugin is installed")
	return ""
}

// repoRoot is the module's root directory, above the test's package.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = up
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// freeBase is a base port whose four API ports are free on 127.0.0.1 now:
// another run, or a network on the default ports, holds others.
func freeBase(t *testing.T) int {
	t.Helper()
	for range 100 {
		base := 20000 + mrand.IntN(4000)*portStride
		ok := true
		var ls []net.Listener
		for k := range nodes {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+portStride*k+1)))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free base port for 4 APIs")
	return 0
}

// output runs name in dir with env and returns its combined output.
func output(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func run(t *testing.T, ctx context.Context, dir string, env []string, name string, args ...string) {
	t.Helper()
	if out, err := output(ctx, dir, env, name, args...); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// statusHeight is the height node api reports, with at least peers peers
// connected.
func statusHeight(t *testing.T, cli func(...string) (string, error), api string, peers int) uint64 {
	t.Helper()
	out, err := cli("status", "--node", api, "--output", "json")
	if err != nil {
		t.Fatalf("status of %s: %v\n%s", api, err, out)
	}
	var st struct {
		Height json.Number `json:"height"`
		Peers  []struct {
			Connected bool `json:"connected"`
		} `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status of %s: %v\n%s", api, err, out)
	}
	h, err := strconv.ParseUint(st.Height.String(), 10, 64)
	if err != nil {
		t.Fatalf("status of %s: height %q", api, st.Height)
	}
	connected := 0
	for _, p := range st.Peers {
		if p.Connected {
			connected++
		}
	}
	if connected < peers {
		t.Errorf("%s: %d peers connected, want %d:\n%s", api, connected, peers, out)
	}
	return h
}

// checkImage: the image holds the binary alone (one layer for it, one for
// the home directory) and runs as the unprivileged user.
func checkImage(t *testing.T, ctx context.Context, image string) {
	t.Helper()
	out, err := output(ctx, "", nil, "docker", "image", "inspect", "--format", "{{.Config.User}} {{len .RootFS.Layers}}", image)
	if err != nil {
		t.Fatalf("inspect %s: %v\n%s", image, err, out)
	}
	if got := strings.TrimSpace(out); got != nodeUser+" 2" {
		t.Errorf("image %s: user and layers %q, want %q (FROM scratch: the binary, the home)", image, got, nodeUser+" 2")
	}
}

// checkVolumes: each node's container mounts a volume of its own at the
// home.
func checkVolumes(t *testing.T, ctx context.Context, project string) {
	t.Helper()
	seen := map[string]bool{}
	for k := range nodes {
		out, err := output(ctx, "", nil, "docker", "ps", "-q", "--filter", "label=com.docker.compose.project="+project,
			"--filter", fmt.Sprintf("label=com.docker.compose.service=node%d", k))
		id := strings.TrimSpace(out)
		if err != nil || id == "" || strings.Contains(id, "\n") {
			t.Fatalf("node%d's container: %v %q", k, err, out)
		}
		out, err = output(ctx, "", nil, "docker", "inspect", "--format",
			`{{range .Mounts}}{{if eq .Destination "/var/lib/govnode"}}{{.Type}} {{.Name}}{{end}}{{end}}`, id)
		if err != nil {
			t.Fatalf("inspect node%d: %v\n%s", k, err, out)
		}
		m := strings.TrimSpace(out)
		if want := fmt.Sprintf("volume %s_node%d", project, k); m != want || seen[m] {
			t.Errorf("node%d's home: %q, want %q of its own", k, m, want)
		}
		seen[m] = true
		// Confined: nothing but its volume is writable, no capability,
		// no privilege gained through exec.
		out, err = output(ctx, "", nil, "docker", "inspect", "--format",
			`{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}}`, id)
		if h := strings.TrimSpace(out); err != nil || h != "true [ALL] [no-new-privileges:true]" {
			t.Errorf("node%d's confinement: %v %q, want a read-only root, every capability dropped and no-new-privileges", k, err, h)
		}
	}
}

// down removes the project's containers, network and volumes and fails
// the test if any is left; on failure it first logs the nodes' last lines.
func down(t *testing.T, root string, env []string, script, project string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if t.Failed() {
		for k := range nodes {
			out, _ := output(ctx, root, env, script, "logs", strconv.Itoa(k))
			lines := strings.Split(strings.TrimSpace(out), "\n")
			t.Logf("node%d's last log lines:\n%s", k, strings.Join(lines[max(0, len(lines)-15):], "\n"))
		}
	}
	if out, err := output(ctx, root, env, script, "down"); err != nil {
		t.Errorf("compose down: %v\n%s", err, out)
	}
	label := "label=com.docker.compose.project=" + project
	for _, what := range [][]string{
		{"ps", "-aq", "--filter", label},
		{"volume", "ls", "-q", "--filter", label},
		{"network", "ls", "-q", "--filter", label},
	} {
		out, err := output(ctx, "", nil, "docker", what...)
		if err != nil {
			t.Errorf("docker %s: %v\n%s", strings.Join(what, " "), err, out)
		} else if left := strings.TrimSpace(out); left != "" {
			t.Errorf("left after compose down (docker %s): %s", what[0], left)
		}
	}
}

// removeImage removes the test's image tag (its layers stay while another
// tag, such as govnode:latest, holds them).
func removeImage(t *testing.T, image string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := output(ctx, "", nil, "docker", "image", "rm", image)
	if err != nil && !strings.Contains(out, "No such image") {
		t.Errorf("docker image rm %s: %v\n%s", image, err, out)
	}
}
