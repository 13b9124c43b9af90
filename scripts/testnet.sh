#!/usr/bin/env bash
# Local govnode network of N validator processes on 127.0.0.1.
#
#   scripts/testnet.sh up [N]     write a fresh network (govnode testnet) and start N nodes (default 4)
#   scripts/testnet.sh kill K     SIGKILL node K
#   scripts/testnet.sh stop K     SIGTERM node K and wait for it to exit
#   scripts/testnet.sh start K    (re)start node K
#   scripts/testnet.sh down       stop every node (SIGTERM, then SIGKILL after 10 s)
#   scripts/testnet.sh status     one line per node: pid, alive, api address
#   scripts/testnet.sh join K     add department K by governance: write node K's home (govnode
#                                 testnet join), propose add-department, vote with the current
#                                 departments' admins, start node K, append its API address to
#                                 api.txt (line K+1); returns once the proposal has passed
#   scripts/testnet.sh leave K    propose remove-department deptK and vote with the other
#                                 departments' admins; returns once the proposal has passed
#
# Everything lives under ${TESTNET_DIR:-.testnet}: the network's files, one
# log file per node (nodeK.log), one pid file per node (nodeK.pid) and
# api.txt, one API address (host:port) per line in node order. The binary is
# ${GOVNODE:-./build/govnode}; `make build` makes it. ${ACCOUNTS:-64} citizen
# accounts are written for load (govnode bench).
#
# ${CRYPTO_SUITE:-ed25519-sha256} is the chain's crypto suite (govnode testnet
# --crypto-suite): CRYPTO_SUITE=sm2-sm3 scripts/testnet.sh up 4 writes a 国密
# network, SM2 keys (but the libp2p node keys) and SM3 hashes, whose
# departments carry their peer bindings; join adds to it a department of its
# suite.
#
# The APIs serve TLS (https), each node with a self-signed pair whose CA is
# nodeK/tls/ca.crt: give `govnode` commands --testnet "$TESTNET_DIR" and they
# call https:// with that CA (and authenticate as --signer); curl needs
# --cacert "$TESTNET_DIR/nodeK/tls/ca.crt" https://HOST:PORT/... TESTNET_TLS=0
# writes plaintext APIs (http) instead. Metrics are plaintext on 127.0.0.1.
set -euo pipefail

DIR=${TESTNET_DIR:-.testnet}
BIN=${GOVNODE:-./build/govnode}
FAULT_MODEL=${FAULT_MODEL:-byzantine}
BASE_PORT=${BASE_PORT:-26656}
ACCOUNTS=${ACCOUNTS:-64}
TLS=${TESTNET_TLS:-1}
CRYPTO_SUITE=${CRYPTO_SUITE:-ed25519-sha256}

die() { echo "testnet: $*" >&2; exit 1; }

# gov_pass ID: every department's admin in testnet.json votes yes on
# proposal ID, one at a time (a vote the chain refuses, from a department
# no longer in the consortium or after the proposal passed, is skipped),
# until it has passed.
gov_pass() {
	local id=$1 api status k n
	api=$(sed -n 1p "$DIR/api.txt")
	n=$(jq '.nodes | length' "$DIR/testnet.json")
	for ((k = 0; k < n; k++)); do
		status=$("$BIN" query proposal "$id" --testnet "$DIR" --node "$api" --output json | jq -r '.proposal.status')
		[[ $status == *PASSED* ]] && return 0
		"$BIN" tx gov vote --testnet "$DIR" --signer "$(jq -r ".nodes[$k].admin.id" "$DIR/testnet.json")" \
			--proposal "$id" --vote yes --wait >/dev/null 2>&1 || true
	done
	status=$("$BIN" query proposal "$id" --testnet "$DIR" --node "$api" --output json | jq -r '.proposal.status')
	[[ $status == *PASSED* ]] || die "proposal $id did not pass (status $status)"
}

# next_end: a voting end height well ahead of the chain.
next_end() {
	local h
	h=$("$BIN" status --testnet "$DIR" --node "$(sed -n 1p "$DIR/api.txt")" --output json | jq -r '.height')
	echo $((h + 100000))
}

need_bin() {
	[[ -x $BIN ]] || die "no govnode binary at $BIN (run 'make build' or set GOVNODE)"
}

# pid_of K: the pid of node K's process, empty unless it runs. A pid file
# outlives its node (one that stopped at an upgrade halt exited by itself),
# and its pid may be another process's since: only a govnode started on
# node K's home counts, so kill and stop never signal anything else.
pid_of() {
	local pid
	pid=$(cat "$DIR/node$1.pid" 2>/dev/null || true)
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	if ps -p "$pid" -o args= 2>/dev/null | grep -qF -- " --home $DIR/node$1 "; then
		echo "$pid"
	fi
}

alive() { [[ -n $(pid_of "$1") ]]; }

count() { ls -d "$DIR"/node[0-9]* 2>/dev/null | grep -c '/node[0-9]*$' || true; }

start_node() {
	local k=$1
	[[ -d $DIR/node$k ]] || die "no node $k in $DIR"
	if alive "$k"; then die "node $k already running (pid $(pid_of "$k"))"; fi
	"$BIN" start --home "$DIR/node$k" --log-format json >>"$DIR/node$k.log" 2>&1 &
	echo $! >"$DIR/node$k.pid"
	echo "node$k started (pid $!, log $DIR/node$k.log)"
}

cmd=${1:-}
case $cmd in
up)
	need_bin
	n=${2:-4}
	[[ $n =~ ^[0-9]+$ && $n -ge 1 ]] || die "N must be a positive number"
	if [[ -d $DIR ]]; then
		for f in "$DIR"/node*.pid; do
			[[ -e $f ]] || continue
			k=${f##*/node}; k=${k%.pid}
			if alive "$k"; then die "a network is running in $DIR: run '$0 down' first"; fi
		done
		rm -rf "$DIR"
	fi
	tls_flag=--tls=true
	[[ $TLS == 0 || $TLS == false ]] && tls_flag=--tls=false
	"$BIN" testnet --validators "$n" --out "$DIR" --fault-model "$FAULT_MODEL" --base-port "$BASE_PORT" --accounts "$ACCOUNTS" "$tls_flag" \
		--crypto-suite "$CRYPTO_SUITE" >"$DIR.testnet.log" 2>&1 ||
		{ cat "$DIR.testnet.log" >&2; die "govnode testnet failed"; }
	mv "$DIR.testnet.log" "$DIR/testnet.log"
	: >"$DIR/api.txt"
	for ((k = 0; k < n; k++)); do
		awk -F'"' '/^\[/{s=$0} s=="[api]" && /^listen_addr/{print $2}' "$DIR/node$k/config.toml" >>"$DIR/api.txt"
		start_node "$k"
	done
	if [[ $tls_flag == --tls=true ]]; then
		echo "API addresses in $DIR/api.txt (https; call them with: $BIN status --testnet $DIR --node ADDR)"
	else
		echo "API addresses in $DIR/api.txt (http)"
	fi
	;;
kill)
	[[ -n ${2:-} ]] || die "usage: $0 kill K"
	pid=$(pid_of "$2")
	[[ -n $pid ]] || die "node $2 is not running"
	kill -KILL "$pid" 2>/dev/null || true
	# Return once it is gone, so that an immediate `start K` does not find
	# it still running.
	for _ in $(seq 100); do alive "$2" || break; sleep 0.05; done
	alive "$2" && die "node$2 (pid $pid) still running after SIGKILL"
	echo "node$2 killed (pid $pid)"
	;;
stop)
	[[ -n ${2:-} ]] || die "usage: $0 stop K"
	pid=$(pid_of "$2")
	[[ -n $pid ]] || die "node $2 is not running"
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do alive "$2" || break; sleep 0.1; done
	if alive "$2"; then kill -KILL "$pid" 2>/dev/null || true; fi
	echo "node$2 stopped"
	;;
start)
	need_bin
	[[ -n ${2:-} ]] || die "usage: $0 start K"
	start_node "$2"
	;;
down)
	for f in "$DIR"/node*.pid; do
		[[ -e $f ]] || continue
		k=${f##*/node}
		k=${k%.pid}
		pid=$(pid_of "$k")
		[[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null || true
	done
	for f in "$DIR"/node*.pid; do
		[[ -e $f ]] || continue
		k=${f##*/node}
		k=${k%.pid}
		for _ in $(seq 100); do alive "$k" || break; sleep 0.1; done
		pid=$(pid_of "$k")
		[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true
		rm -f "$f"
	done
	echo "testnet down"
	;;
join)
	need_bin
	command -v jq >/dev/null || die "join needs jq"
	k=${2:-}
	[[ $k =~ ^[0-9]+$ ]] || die "usage: $0 join K"
	[[ -f $DIR/testnet.json ]] || die "no network in $DIR (run '$0 up' first)"
	n=$(jq '.nodes | length' "$DIR/testnet.json")
	[[ $k -eq $n ]] || die "join K: the next department is $n"
	"$BIN" testnet join --out "$DIR" --index "$k" >/dev/null 2>&1 || die "govnode testnet join failed"
	id="add-dept$k-$(date +%s)"
	"$BIN" tx gov propose add-department --testnet "$DIR" --signer dept0-admin --id "$id" --title "add dept$k" --voting-end-height "$(next_end)" \
		--department "dept$k" --admin "dept$k-admin" --admin-key "$DIR/node$k/keys/admin.key" --node-home "$DIR/node$k" --wait >/dev/null ||
		die "add-department proposal refused"
	gov_pass "$id"
	start_node "$k"
	jq -r ".nodes[$k].api_addr" "$DIR/testnet.json" >>"$DIR/api.txt"
	echo "dept$k added by proposal $id; node$k api $(sed -n "$((k + 1))p" "$DIR/api.txt")"
	;;
leave)
	need_bin
	command -v jq >/dev/null || die "leave needs jq"
	k=${2:-}
	[[ $k =~ ^[0-9]+$ ]] || die "usage: $0 leave K"
	[[ -f $DIR/testnet.json ]] || die "no network in $DIR (run '$0 up' first)"
	signer=dept0-admin
	[[ $k -eq 0 ]] && signer=dept1-admin
	id="remove-dept$k-$(date +%s)"
	"$BIN" tx gov propose remove-department --testnet "$DIR" --signer "$signer" --id "$id" --voting-end-height "$(next_end)" \
		--title "remove dept$k" --department "dept$k" --wait >/dev/null || die "remove-department proposal refused"
	gov_pass "$id"
	echo "dept$k removed by proposal $id"
	;;
status)
	n=$(count)
	for ((k = 0; k < n; k++)); do
		state=down
		alive "$k" && state=up
		printf 'node%d  %-5s pid %-8s api %s\n' "$k" "$state" "$(pid_of "$k")" "$(sed -n "$((k + 1))p" "$DIR/api.txt" 2>/dev/null)"
	done
	;;
*)
	# The whole comment block at the top of this file.
	sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
