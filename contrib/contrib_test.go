// Package contrib_test checks the files an operator installs beside the
// binary (docs/DEPLOY.md): the systemd unit (contrib/systemd), the
// Prometheus scrape configuration, alert rules and their unit tests
// (contrib/prometheus) and the Grafana dashboard (contrib/grafana), with
// the tools that read them (promtool, systemd-analyze); that every metric
// they use is one a node exports; and that every govnode command
// docs/DEPLOY.md shows is a real command with real flags. The directory
// holds no Go code but these tests, so it is on no layer of
// layering_test.go.
package contrib_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govnode/govnode/node"
	"github.com/govnode/govnode/node/nodetest"
)

// requiredTool returns the path of a tool the checks of this package need.
// Missing, the test fails when CI=true (.ci/run installs it) and skips
// otherwise, so that a developer without it still runs the rest.
func requiredTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed and CI=true: .ci/run must install it (Debian package %s)", name, pkg)
	}
	t.Skipf("%s is not installed (Debian package %s); CI=true makes this a failure", name, pkg)
	return ""
}

// run runs name with args in dir and fails the test, with its output, unless
// it exits 0.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPrometheusConfig(t *testing.T) {
	promtool := requiredTool(t, "promtool", "prometheus")
	out := run(t, "prometheus", promtool, "check", "config", "prometheus.yml")
	// The scrape config names the rule file beside it: promtool checks it too.
	if !strings.Contains(out, "1 rule files found") || !strings.Contains(out, "govnode.rules.yml") {
		t.Fatalf("promtool check config did not read govnode.rules.yml:\n%s", out)
	}
}

func TestAlertRules(t *testing.T) {
	promtool := requiredTool(t, "promtool", "prometheus")
	run(t, "prometheus", promtool, "check", "rules", "govnode.rules.yml")
	run(t, "prometheus", promtool, "test", "rules", "govnode.rules.test.yml")

	// Every alert has a test that shows it firing.
	rules, err := os.ReadFile("prometheus/govnode.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("prometheus/govnode.rules.test.yml")
	if err != nil {
		t.Fatal(err)
	}
	alerts := regexp.MustCompile(`(?m)^\s+- alert: (\w+)$`).FindAllStringSubmatch(string(rules), -1)
	if len(alerts) < 10 {
		t.Fatalf("found %d alerts in govnode.rules.yml", len(alerts))
	}
	for _, a := range alerts {
		fired := regexp.MustCompile(`(?m)^\s+alertname: ` + a[1] + `\n\s+exp_alerts:\n\s+- exp_labels:`)
		if !fired.Match(tests) {
			t.Errorf("alert %s has no test in govnode.rules.test.yml that expects it to fire", a[1])
		}
	}
}

// TestAlertRulesCatchBrokenRules shows that the rule tests can fail: with
// one alert's threshold moved out of reach, promtool test rules fails
// naming that alert.
func TestAlertRulesCatchBrokenRules(t *testing.T) {
	promtool := requiredTool(t, "promtool", "prometheus")
	dir := t.TempDir()
	rules, err := os.ReadFile("prometheus/govnode.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	broken := bytes.Replace(rules, []byte(`[10m]) > 3`), []byte(`[10m]) > 300`), 1)
	if bytes.Equal(broken, rules) {
		t.Fatal("the view-change threshold is not in govnode.rules.yml any more: update this test")
	}
	tests, err := os.ReadFile("prometheus/govnode.rules.test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"govnode.rules.yml": broken, "govnode.rules.test.yml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "test", "rules", "govnode.rules.test.yml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "GovnodeViewChanges") {
		t.Fatalf("promtool test rules passed a broken rule (err %v):\n%s", err, out)
	}
}

// metricName matches the names of the node's metrics and of the Go and
// process collectors in PromQL and in the dashboard.
var metricName = regexp.MustCompile(`\b(?:govnode|process|go)_[a-z0-9_]+\b`)

// TestMetricsExist checks that every metric the alert rules and the
// dashboard use is one a node exports: scraped from a running node after a
// commit, or, for a labelled series that appears only once something
// happens (a refusal, a graylisted peer), registered in the node's source.
func TestMetricsExist(t *testing.T) {
	used := map[string][]string{}
	for _, f := range []string{"prometheus/govnode.rules.yml", "grafana/govnode-dashboard.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricName.FindAllString(string(b), -1) {
			used[m] = append(used[m], f)
		}
	}
	if len(used) < 15 {
		t.Fatalf("only %d metric names found in the rules and the dashboard", len(used))
	}

	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("rec-1", nodetest.LandTitle, "citizen0", []byte("plot 1"))))
	resp, err := n.HTTP.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %v %v", resp.Status, err)
	}
	exported := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`).FindAllStringSubmatch(string(body), -1) {
		exported[m[1]] = true
		if m[2] == "histogram" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exported[m[1]+s] = true
			}
		}
	}
	if !exported["govnode_chain_height"] || !exported["process_resident_memory_bytes"] {
		t.Fatalf("the node's /metrics lacks its basic series:\n%s", body)
	}
	registered := sourceMetricNames(t)
	var missing []string
	for m, files := range used {
		if !exported[m] && !registered[m] {
			missing = append(missing, fmt.Sprintf("%s (in %s)", m, strings.Join(uniq(files), ", ")))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("metrics used but not exported by a node:\n  %s", strings.Join(missing, "\n  "))
	}
}

// sourceMetricNames are the metric names registered in the node's source:
// string literals "govnode_…" and the p2p collector's "govnode_p2p_"+name.
func sourceMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	lit := regexp.MustCompile(`"(govnode_[a-z0-9_]+[a-z0-9])"`)
	p2p := regexp.MustCompile(`\bd\("([a-z0-9_]+)"`)
	for _, root := range []string{"../node", "../p2p"} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range lit.FindAllSubmatch(b, -1) {
				names[string(m[1])] = true
			}
			if bytes.Contains(b, []byte(`"govnode_p2p_"+name`)) {
				for _, m := range p2p.FindAllSubmatch(b, -1) {
					names["govnode_p2p_"+string(m[1])] = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return names
}

func uniq(xs []string) []string {
	sort.Strings(xs)
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// TestDashboard checks the Grafana dashboard's shape: JSON, a Prometheus
// data source variable, panels with queries.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/govnode-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title      string `json:"title"`
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Fatal("dashboard without title or uid")
	}
	hasDS := false
	for _, v := range d.Templating.List {
		hasDS = hasDS || v.Type == "datasource"
	}
	if !hasDS {
		t.Error("dashboard has no data source variable: it would be tied to one Grafana's data source")
	}
	queries := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %q has an empty query", p.Title)
			}
			queries++
		}
	}
	if queries < 10 {
		t.Errorf("dashboard has %d queries", queries)
	}
}

// TestSystemdUnit checks contrib/systemd/govnode.service with
// `systemd-analyze verify` (any warning fails: verify exits 0 on unknown
// keys and bad values) and its exposure with `systemd-analyze security`.
// It skips where systemd-analyze is missing, CI included: CI containers
// often have no systemd.
func TestSystemdUnit(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (package systemd): the unit is not checked")
	}
	unit, err := os.ReadFile("systemd/govnode.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nUser=govnode\n", "\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n",
		"\nReadWritePaths=/var/lib/govnode\n", "\nPrivateTmp=yes\n", "\nLimitNOFILE=", "\nRestart=on-failure\n",
		"\nLoadCredential=passphrase:", "--passphrase-file %d/passphrase", "--home /var/lib/govnode"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	// verify checks that ExecStart's binary exists: point it at one that
	// does (this test's own), in a copy.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "govnode.service")
	unit = bytes.ReplaceAll(unit, []byte("/usr/local/bin/govnode"), []byte(self))
	if err := os.WriteFile(copyPath, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", copyPath).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The same check on a broken copy fails: the test can see a bad key.
	bad := filepath.Join(dir, "bad.service")
	if err := os.WriteFile(bad, bytes.Replace(unit, []byte("ProtectSystem=strict"), []byte("ProtectSystem=bogus"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(sa, "verify", bad).CombinedOutput(); !bytes.Contains(out, []byte("bogus")) {
		t.Fatalf("systemd-analyze verify said nothing of a bad ProtectSystem:\n%s", out)
	}
	out, err = exec.Command(sa, "security", "--offline=true", "--threshold=30", copyPath).CombinedOutput()
	if bytes.Contains(out, []byte("unrecognized option")) {
		t.Logf("this systemd-analyze has no offline security check: %s", bytes.TrimSpace(out))
		return
	}
	// The exposure scale goes from 0 (locked down) to 10 (UNSAFE); 3.0 is
	// the threshold of --threshold=30 (tenths).
	if err != nil {
		t.Fatalf("systemd-analyze security: exposure above 3.0 (%v):\n%s", err, out)
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// govnodeBinary builds the govnode binary once for the tests that run it.
func govnodeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "govnode-contrib-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "govnode")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/govnode/govnode/cmd/govnode").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// TestDeployDocCommands checks every govnode command in docs/DEPLOY.md's
// code blocks, and the systemd unit's ExecStart, against the binary: its subcommands exist and every --flag
// it gives is one that command takes (from its --help). A guide whose
// commands drifted from the binary fails here.
func TestDeployDocCommands(t *testing.T) {
	doc, err := os.ReadFile("../docs/DEPLOY.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds := docCommands(string(doc))
	if len(cmds) < 20 {
		t.Fatalf("found %d govnode commands in docs/DEPLOY.md", len(cmds))
	}
	// The unit's ExecStart too, read as a code block.
	unit, err := os.ReadFile("systemd/govnode.service")
	if err != nil {
		t.Fatal(err)
	}
	unitCmds := docCommands("```\n" + string(unit) + "```\n")
	if len(unitCmds) != 1 {
		t.Fatalf("found %d govnode commands in the systemd unit, want its ExecStart", len(unitCmds))
	}
	cmds = append(cmds, unitCmds...)
	bin := govnodeBinary(t)
	helps := map[string]string{}
	help := func(path []string) string {
		key := strings.Join(path, " ")
		if h, ok := helps[key]; ok {
			return h
		}
		out, err := exec.Command(bin, append(slices.Clone(path), "--help")...).CombinedOutput()
		if err != nil {
			t.Fatalf("govnode %s --help: %v\n%s", key, err, out)
		}
		helps[key] = string(out)
		return string(out)
	}
	checked := 0
	for _, c := range cmds {
		var path []string
		args := c.args
		for len(args) > 0 && isSubcommand(help(path), args[0]) {
			path, args = append(path, args[0]), args[1:]
		}
		if len(path) == 0 {
			t.Errorf("line %d: %q is not a govnode command", c.line, strings.Join(c.args, " "))
			continue
		}
		h := help(path)
		if strings.Contains(h, "Available Commands:") {
			t.Errorf("line %d: govnode %s needs a subcommand", c.line, strings.Join(path, " "))
		}
		for _, a := range args {
			if !strings.HasPrefix(a, "--") {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if !regexp.MustCompile(`(?m)^\s+(?:-\w, )?--` + regexp.QuoteMeta(name) + `(?:\s|$)`).MatchString(h) {
				t.Errorf("line %d: govnode %s has no flag --%s", c.line, strings.Join(path, " "), name)
			}
			checked++
		}
	}
	if checked < 60 {
		t.Errorf("checked only %d flags", checked)
	}
}

// isSubcommand reports whether word is listed under "Available Commands"
// in a command's help.
func isSubcommand(help, word string) bool {
	_, list, ok := strings.Cut(help, "Available Commands:\n")
	if !ok {
		return false
	}
	list, _, _ = strings.Cut(list, "\n\n")
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == word {
			return true
		}
	}
	return false
}

type docCommand struct {
	line int
	args []string // after "govnode"
}

// docCommands finds the govnode invocations in the fenced code blocks of
// a Markdown document: a segment of a shell line (between |, ;, && and
// ||, after `sudo -u USER`) whose first word is govnode or a path ending
// in /govnode, or an ExecStart= line (also in a comment). Lines ending in
// a backslash continue.
func docCommands(doc string) []docCommand {
	var out []docCommand
	in := false
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(line, "```") {
			in = !in
			continue
		}
		if !in {
			continue
		}
		start := i + 1
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + " " + lines[i]
		}
		trimmed := strings.TrimLeft(line, "# \t")
		if rest, ok := strings.CutPrefix(trimmed, "ExecStart="); ok {
			line = rest
		} else if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		var seg []string
		flush := func() {
			if len(seg) >= 2 && seg[0] == "sudo" && seg[1] == "-u" {
				seg = seg[min(3, len(seg)):]
			}
			if len(seg) > 0 && (seg[0] == "govnode" || strings.HasSuffix(seg[0], "/govnode") && !strings.Contains(seg[0], "=")) {
				out = append(out, docCommand{line: start, args: seg[1:]})
			}
			seg = nil
		}
		skip := false
		for _, w := range shellWords(line) {
			switch {
			case w == "|" || w == "||" || w == "&&" || w == ";":
				flush()
				skip = false
			case skip:
			case w == ">" || w == ">>" || strings.HasPrefix(w, "#") || w == ")":
				skip = true // a redirection or a comment: the command ends
			default:
				seg = append(seg, w)
			}
		}
		if !skip || len(seg) > 0 {
			flush()
		}
	}
	return out
}

// shellWords splits a shell line into words, keeping quoted strings whole
// (without their quotes) and the operators |, ||, &&, ; as words.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	has := false
	var quote rune
	emit := func() {
		if has {
			words = append(words, cur.String())
		}
		cur.Reset()
		has = false
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, has = r, true
		case r == ' ' || r == '\t':
			emit()
		case r == ';' || r == '|' || r == '&':
			emit()
			op := string(r)
			if i+1 < len(rs) && (rs[i+1] == '|' || rs[i+1] == '&') && (r == '|' || r == '&') {
				op += string(rs[i+1])
				i++
			}
			words = append(words, op)
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	emit()
	return words
}

// TestScrapeConfigScrapesANode runs Prometheus with contrib/prometheus's
// configuration, its targets pointed at a running node whose metrics port
// speaks TLS with a self-signed CA (as `govnode init --tls` sets it up):
// the govnode job scrapes the node over TLS, its series arrive, every
// rule of govnode.rules.yml evaluates without error against them, and so
// does every query of the Grafana dashboard.
func TestScrapeConfigScrapesANode(t *testing.T) {
	prom := requiredTool(t, "prometheus", "prometheus")
	metricsAddr := freeTCPAddr(t)
	c := nodetest.NewChain(t, nodetest.Options{TLS: true, Configure: func(cfg *node.Config) {
		cfg.Metrics.ListenAddr = metricsAddr
		cfg.Metrics.TLSCertFile, cfg.Metrics.TLSKeyFile = cfg.API.TLSCertFile, cfg.API.TLSKeyFile
	}})
	n := c.Start(t)
	n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("rec-1", nodetest.LandTitle, "citizen0", []byte("plot 1"))))

	dir := t.TempDir()
	cfg, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]string{
		{"'node.dept0.example:26658'", "'" + metricsAddr + "'"},
		{"/etc/prometheus/govnode-ca.crt", filepath.Join(c.Home, "tls", "ca.crt")},
		{"server_name: node.dept0.example", "server_name: localhost"},
		{"scrape_interval: 15s", "scrape_interval: 1s"},
		{"evaluation_interval: 15s", "evaluation_interval: 1s"},
	} {
		if !bytes.Contains(cfg, []byte(r[0])) {
			t.Fatalf("prometheus.yml has no %q any more: update this test", r[0])
		}
		cfg = bytes.ReplaceAll(cfg, []byte(r[0]), []byte(r[1]))
	}
	rules, err := os.ReadFile("prometheus/govnode.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"prometheus.yml": cfg, "govnode.rules.yml": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	web := freeTCPAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+web)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus:\n%s", logs.String())
		}
	})

	type sample struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	query := func(q string) []sample {
		resp, err := http.Get("http://" + web + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var r struct {
			Data struct {
				Result []sample `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&r) != nil {
			return nil
		}
		return r.Data.Result
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		up := query(`up{job="govnode"}`)
		height := query(`govnode_chain_height{job="govnode"}`)
		if len(up) == 1 && up[0].Value[1] == "1" && len(height) == 1 && height[0].Value[1] != "0" {
			if height[0].Metric["department"] != "dept0" {
				t.Fatalf("the scraped series lack the target's department label: %v", height[0].Metric)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not scrape the node over TLS within 60 s: up %v, height %v", up, height)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Every rule evaluates cleanly against the node's real series, and the
	// healthy node raises none of the node's own alerts.
	deadline = time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + web + "/api/v1/rules")
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name           string `json:"name"`
						Health         string `json:"health"`
						LastError      string `json:"lastError"`
						LastEvaluation string `json:"lastEvaluation"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		total, evaluated := 0, 0
		for _, g := range r.Data.Groups {
			for _, rule := range g.Rules {
				total++
				if rule.Health == "err" {
					t.Fatalf("rule %s fails against a real node: %s", rule.Name, rule.LastError)
				}
				if rule.Health == "ok" {
					evaluated++
				}
			}
		}
		if total > 15 && evaluated == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d rules evaluated within 30 s", evaluated, total)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Every query of the dashboard runs on the real series, with Grafana's
	// variables as a dashboard showing every node sets them, once a few
	// scrapes give rate() something to work on.
	deadline = time.Now().Add(30 * time.Second)
	for {
		if s := query(`count_over_time(up{job="govnode"}[1m])`); len(s) == 1 && s[0].Value[1] != "1" && s[0].Value[1] != "2" && s[0].Value[1] != "3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Prometheus did not scrape the node 4 times within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	dash, err := os.ReadFile("grafana/govnode-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	exprs := regexp.MustCompile(`"expr": "((?:[^"\\]|\\.)*)"`).FindAllSubmatch(dash, -1)
	if len(exprs) < 10 {
		t.Fatalf("found %d queries in the dashboard", len(exprs))
	}
	nonEmpty := 0
	for _, m := range exprs {
		var q string
		if err := json.Unmarshal(append(append([]byte{'"'}, m[1]...), '"'), &q); err != nil {
			t.Fatal(err)
		}
		q = strings.NewReplacer("$__rate_interval", "1m", "$instance", ".*").Replace(q)
		resp, err := http.Get("http://" + web + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				Result []sample `json:"result"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil || r.Status != "success" {
			t.Errorf("dashboard query %s: %v %s %s", q, err, r.Status, r.Error)
		}
		if len(r.Data.Result) > 0 {
			nonEmpty++
		} else {
			t.Logf("no data (yet) for %s", q)
		}
	}
	if nonEmpty < len(exprs)*3/4 {
		t.Errorf("only %d of the dashboard's %d queries return data on a node that committed a block", nonEmpty, len(exprs))
	}
	t.Logf("%d of the dashboard's %d queries return data", nonEmpty, len(exprs))

	for _, a := range query(`ALERTS{alertstate="firing", job="govnode"}`) {
		if a.Metric["alertname"] != "GovnodePeersBelowQuorum" { // a one-validator test chain has no peers
			t.Errorf("a healthy node fires %s", a.Metric["alertname"])
		}
	}
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
