#!/usr/bin/env bash
# Local govnode network of N validator processes on 127.0.0.1.
#
#   scripts/testnet.sh up [N]     write a fresh network (govnode testnet) and start N nodes (default 4)
#   scripts/testnet.sh kill K     SIGKILL node K
#   scripts/testnet.sh stop K     SIGTERM node K and wait for it to exit
#   scripts/testnet.sh start K    (re)start node K
#   scripts/testnet.sh down       stop every node (SIGTERM, then SIGKILL after 10 s)
#   scripts/testnet.sh status     one line per node: pid, alive, api address
#
# Everything lives under ${TESTNET_DIR:-.testnet}: the network's files, one
# log file per node (nodeK.log), one pid file per node (nodeK.pid) and
# api.txt, one API address per line in node order. The binary is
# ${GOVNODE:-./build/govnode}; `make build` makes it. ${ACCOUNTS:-64} citizen
# accounts are written for load (govnode bench).
set -euo pipefail

DIR=${TESTNET_DIR:-.testnet}
BIN=${GOVNODE:-./build/govnode}
FAULT_MODEL=${FAULT_MODEL:-byzantine}
BASE_PORT=${BASE_PORT:-26656}
ACCOUNTS=${ACCOUNTS:-64}

die() { echo "testnet: $*" >&2; exit 1; }

need_bin() {
	[[ -x $BIN ]] || die "no govnode binary at $BIN (run 'make build' or set GOVNODE)"
}

pid_of() { cat "$DIR/node$1.pid" 2>/dev/null || true; }

alive() {
	local pid
	pid=$(pid_of "$1")
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

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
	"$BIN" testnet --validators "$n" --out "$DIR" --fault-model "$FAULT_MODEL" --base-port "$BASE_PORT" --accounts "$ACCOUNTS" >"$DIR.testnet.log" 2>&1 ||
		{ cat "$DIR.testnet.log" >&2; die "govnode testnet failed"; }
	mv "$DIR.testnet.log" "$DIR/testnet.log"
	: >"$DIR/api.txt"
	for ((k = 0; k < n; k++)); do
		awk -F'"' '/^\[/{s=$0} s=="[api]" && /^listen_addr/{print $2}' "$DIR/node$k/config.toml" >>"$DIR/api.txt"
		start_node "$k"
	done
	echo "API addresses in $DIR/api.txt"
	;;
kill)
	[[ -n ${2:-} ]] || die "usage: $0 kill K"
	pid=$(pid_of "$2")
	[[ -n $pid ]] || die "node $2 has no pid file"
	kill -KILL "$pid" 2>/dev/null || true
	echo "node$2 killed (pid $pid)"
	;;
stop)
	[[ -n ${2:-} ]] || die "usage: $0 stop K"
	pid=$(pid_of "$2")
	[[ -n $pid ]] || die "node $2 has no pid file"
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
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
		pid=$(cat "$f")
		kill -TERM "$pid" 2>/dev/null || true
	done
	for f in "$DIR"/node*.pid; do
		[[ -e $f ]] || continue
		pid=$(cat "$f")
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		rm -f "$f"
	done
	echo "testnet down"
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
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
