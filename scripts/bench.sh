#!/usr/bin/env bash
# make bench: the cluster benchmark of docs/BENCHMARKS.md, end to end.
#
#   scripts/bench.sh
#
# Builds ./build/govnode, brings up a fresh 4-node byzantine network with
# scripts/testnet.sh (pprof off, the testnet default), runs
#
#   govnode bench --find-max   (probes of $BENCH_FIND_DURATION, default 10s)
#   govnode bench --rate $BENCH_STEPS (default 250,1000,3500, then twice the
#     saturation found), $BENCH_DURATION each (default 30s)
#
# tears the network down (also on failure or Ctrl-C), and writes the results
# into $BENCH_DOC (default docs/BENCHMARKS.md) between the lines
# <!-- bench:begin --> and <!-- bench:end -->, with the machine, the date,
# the commit and the exact commands. With CRYPTO_SUITE=sm2-sm3 the network
# is a 国密 chain (scripts/testnet.sh passes it to govnode testnet) and the
# results go between <!-- bench-sm2-sm3:begin --> and <!-- bench-sm2-sm3:end -->. The raw JSON reports stay in
# $BENCH_OUT (default /tmp/govnode-bench-results).
#
# The network lives in $TESTNET_DIR (default /tmp/govnode-bench-net) on
# ports $BASE_PORT.. (default 36656; node i uses BASE_PORT+10i .. +10i+3);
# the script refuses to start if one of them is taken (a connection in
# TIME-WAIT on one does not count: it does not stop a listener). Needs jq.
set -euo pipefail
cd "$(dirname "$0")/.."

export TESTNET_DIR=${TESTNET_DIR:-/tmp/govnode-bench-net}
export BASE_PORT=${BASE_PORT:-36656}
export FAULT_MODEL=byzantine
export CRYPTO_SUITE=${CRYPTO_SUITE:-ed25519-sha256}
case $CRYPTO_SUITE in
ed25519-sha256) MARK=bench ;;
sm2-sm3) MARK=bench-sm2-sm3 ;;
*) echo "bench: CRYPTO_SUITE=$CRYPTO_SUITE: want ed25519-sha256 or sm2-sm3" >&2; exit 2 ;;
esac
# Enough signers that the client is not what limits the offered rate (each
# signer sends its txs one at a time, in nonce order).
export ACCOUNTS=${ACCOUNTS:-256}
export GOVNODE=${GOVNODE:-./build/govnode}
NODES=4
# Issue 20's points: 250 and 1,000 tx/s (latency, blocks/s), 3,500 (the
# saturation target); a step at twice the measured saturation is added
# after --find-max (BENCH_OVERLOAD=0 leaves it out).
STEPS=${BENCH_STEPS:-250,1000,3500}
OVERLOAD=${BENCH_OVERLOAD:-1}
DURATION=${BENCH_DURATION:-30s}
FIND_DURATION=${BENCH_FIND_DURATION:-10s}
MAX_P99=${BENCH_MAX_P99:-1s}
DOC=${BENCH_DOC:-docs/BENCHMARKS.md}
OUT=${BENCH_OUT:-/tmp/govnode-bench-results}

die() { echo "bench: $*" >&2; exit 1; }

command -v jq >/dev/null || die "jq is needed to write the tables"
grep -q "^<!-- $MARK:begin -->\$" "$DOC" && grep -q "^<!-- $MARK:end -->\$" "$DOC" ||
	die "$DOC has no <!-- $MARK:begin --> / <!-- $MARK:end --> lines"
for ((k = 0; k < NODES; k++)); do
	for off in 0 1 2 3; do
		port=$((BASE_PORT + 10 * k + off))
		if ss -Htan exclude time-wait "sport = :$port" 2>/dev/null | grep -q . || ss -Huan "sport = :$port" 2>/dev/null | grep -q .; then
			die "port $port is in use (another network?); set BASE_PORT"
		fi
	done
done

started=$(date +%s)
make build
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.log

cleanup() { scripts/testnet.sh down >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
scripts/testnet.sh up "$NODES"
for ((k = 0; k < NODES; k++)); do
	grep -q '^pprof = false$' "$TESTNET_DIR/node$k/config.toml" || die "node$k has pprof on"
done

# Wait until every node reports its peers connected (an idle network makes
# no blocks, so height says nothing).
for ((k = 1; k <= NODES; k++)); do
	api=$(sed -n "${k}p" "$TESTNET_DIR/api.txt")
	for i in $(seq 120); do
		p=$("$GOVNODE" status --testnet "$TESTNET_DIR" --node "$api" --timeout 2s --output json 2>/dev/null | jq -r '[.peers[]? | select(.connected)] | length' 2>/dev/null || echo 0)
		[[ ${p:-0} -ge $((NODES - 1)) ]] && break
		[[ $i -eq 120 ]] && die "node at $api has not connected to its $((NODES - 1)) peers within 60 s (see $TESTNET_DIR/node$((k - 1)).log)"
		sleep 0.5
	done
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
FIND_CMD=(govnode bench --testnet "$TESTNET_DIR" --find-max --duration "$FIND_DURATION" --max-p99 "$MAX_P99" --output json)
echo "bench: ${FIND_CMD[*]}"
"$GOVNODE" "${FIND_CMD[@]:1}" >"$OUT/find-max.json" 2> >(tee "$OUT/find-max.log" >&2)
if [[ $OVERLOAD == 1 ]]; then
	sat=$(jq -r '.find_max.rate // 0 | round' "$OUT/find-max.json")
	[[ $sat -gt 0 ]] && STEPS="$STEPS,$((2 * sat))"
fi
STEPS_CMD=(govnode bench --testnet "$TESTNET_DIR" --rate "$STEPS" --duration "$DURATION" --output json)
echo "bench: ${STEPS_CMD[*]}"
"$GOVNODE" "${STEPS_CMD[@]:1}" >"$OUT/steps.json" 2> >(tee "$OUT/steps.log" >&2)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cleanup
trap - EXIT
elapsed=$(($(date +%s) - started))

# The section between the markers.
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
ram=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
rows='(.rate|tostring) + " | " + (.offered_tps|tostring) + " | " + (.committed_tps|tostring) + " | "
  + (if .offered > 0 then (100 * .committed / .offered * 10 | round / 10 | tostring) else "-" end) + " | "
  + (.rejected|tostring) + " | " + (.uncommitted|tostring) + " | " + ((.failed // "-")|tostring) + " | "
  + (.p50_ms|round|tostring) + " | " + (.p99_ms|round|tostring) + " | "
  + ([.node_stats[]?.cpu_cores_avg // empty] | if length > 0 then (add * 100 | round / 100 | tostring) else "-" end) + " | "
  + ([.node_stats[]?.rss_max_mib // empty] | if length > 0 then (max | round | tostring) else "-" end) + " | "
  + ((.disk_bytes_per_tx_avg // null) | if . == null then "-" else (round|tostring) end) + " | "
  + ((.admitted_p50_ms // 0)|round|tostring) + " / " + ((.admitted_p99_ms // 0)|round|tostring) + " | "
  + ((.backpressured // 0)|tostring) + " | "
  + ((.blocks_per_s // 0)|tostring) + " | " + ((.txs_per_block // 0)|tostring) + " | "
  + ((.cpu_us_per_tx_per_node // null) | if . == null then "-" else (round|tostring) end)'
header='| offered rate (tx/s) | offered (tx/s) | committed (tx/s) | committed % | rejected | uncommitted | failed | p50 (ms) | p99 (ms) | CPU cores, 4 nodes | max RSS (MiB) | disk B/tx | admitted p50 / p99 (ms) | backpressured | blocks/s | txs/block | CPU µs per tx per node |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |'
nodes='.node_stats[] | "| " + .name + " | " + (.submitted|tostring) + " | " + ((.cpu_cores_avg // "-")|tostring) + " | "
  + ((.rss_max_mib // "-")|tostring) + " | " + ((.disk_growth_bytes // "-")|tostring) + " | " + ((.disk_bytes_per_tx // "-")|tostring) + " |"'
section=$(mktemp)
{
	echo "<!-- $MARK:begin -->"
	echo "<!-- written by scripts/bench.sh (make bench); edits here are overwritten -->"
	echo
	echo "Last \`make bench\`: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, $((elapsed / 60)) min $((elapsed % 60)) s end to end."
	echo "Machine: $cpu, $(nproc) cores, $ram RAM, Linux $(uname -r), $(go version | cut -d' ' -f3-4)."
	echo "Load average (1, 5, 15 min) before the runs: $load_before; after: $load_after."
	echo
	echo "A fresh 4-node byzantine $CRYPTO_SUITE network (\`CRYPTO_SUITE=$CRYPTO_SUITE scripts/testnet.sh up 4\`, pprof off, $(jq -r '.find_max.probes[0].signers' "$OUT/find-max.json") signers,"
	echo "$(jq -r '.find_max.probes[0].conns' "$OUT/find-max.json") $(jq -r '.find_max.probes[0].protocol' "$OUT/find-max.json") load connections over the 4 nodes, the default mix). Commands:"
	echo
	echo '```sh'
	echo "CRYPTO_SUITE=$CRYPTO_SUITE TESTNET_DIR=$TESTNET_DIR BASE_PORT=$BASE_PORT scripts/testnet.sh up 4"
	echo "${FIND_CMD[*]}"
	echo "${STEPS_CMD[*]}"
	echo "scripts/testnet.sh down"
	echo '```'
	echo
	jq -r '.find_max | "**Saturation (--find-max):** " +
	  (if .rate == 0 then "below \(.find_min_rate) tx/s" elif .at_upper_bound then "above \(.find_max_rate) tx/s"
	   else "\(.rate) tx/s offered, \(.committed_tps) tx/s committed, p50 \(.p50_ms|round) ms, p99 \(.p99_ms|round) ms" end)
	  + " (criteria: at least \(.min_commit * 100)% of offered txs committed, p99 at most \(.max_p99_ms|round) ms; probes of \(.duration_s) s)."' "$OUT/find-max.json"
	echo
	echo "Probes, in order:"
	echo
	echo "$(sed -n 1p <<<"$header") verdict |"
	echo "$(sed -n 2p <<<"$header") --- |"
	jq -r ".find_max.probes[] | \"| \" + $rows + \" | \" + (if .passed then \"pass\" else \"fail: \" + .fail_reason end) + \" |\"" "$OUT/find-max.json"
	echo
	echo "Steps of $DURATION:"
	echo
	echo "$header"
	jq -r ".steps[] | \"| \" + $rows + \" |\"" "$OUT/steps.json"
	echo
	echo "Per node, each step:"
	echo
	echo "| node | submitted | CPU cores | max RSS (MiB) | data dir growth (B) | disk B/tx |"
	echo "| --- | --- | --- | --- | --- | --- |"
	jq -r '.steps[] | "| **\(.rate) tx/s** | | | | | |", ('"$nodes"')' "$OUT/steps.json"
	echo
	echo "Refusals and failures of the steps (top 5 each):"
	echo
	echo '```'
	jq -r '.steps[] | "\(.rate) tx/s: rejections \(.rejections // {} | tojson); failures \(.failures // {} | tojson)"' "$OUT/steps.json"
	echo '```'
	echo "<!-- $MARK:end -->"
} >"$section"

tmp=$(mktemp)
awk -v f="$section" -v b="<!-- $MARK:begin -->" -v e="<!-- $MARK:end -->" '
	$0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
	$0 == e { skip = 0; next }
	!skip { print }
' "$DOC" >"$tmp"
mv "$tmp" "$DOC"
rm -f "$section"
echo "bench: results in $DOC (raw JSON in $OUT), $((elapsed / 60)) min $((elapsed % 60)) s"
