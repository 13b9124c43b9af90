// Package contrib holds no code: its directory keeps the files an operator
// installs beside the binary (docs/DEPLOY.md): the systemd unit
// (contrib/systemd), the Prometheus scrape configuration, alert rules and
// their unit tests (contrib/prometheus) and the Grafana dashboard
// (contrib/grafana). Its tests check them with the tools that read them
// (promtool, systemd-analyze), check that every metric they use is one a
// node exports, and that every govnode command docs/DEPLOY.md shows is a
// real command with real flags.
package contrib
