#!/usr/bin/env bash
# A four-department govnode network in containers: contrib/docker/compose.yaml
# run by docker-compose, each node in a container of its own with its home
# in a volume of its own.
#
#   scripts/compose.sh up         write a fresh network (govnode testnet --hosts node0,...,node3),
#                                 create the containers and volumes, copy each node's home into
#                                 its volume, start the nodes and wait until each API answers
#   scripts/compose.sh down       remove the containers, their network and volumes (the chain)
#   scripts/compose.sh kill K     SIGKILL node K's container
#   scripts/compose.sh stop K     stop node K (SIGTERM; SIGKILL after 20 s)
#   scripts/compose.sh start K    start node K again: it catches up by block sync
#   scripts/compose.sh ps         the containers and their health
#   scripts/compose.sh logs K     node K's log
#
# The network's files stay on this machine in ${COMPOSE_DIR:-.compose}: genesis,
# testnet.json, the nodes' homes as written (keys of the departments' admins and
# officials, each API's CA in nodeK/tls/ca.crt), accounts/, and api.txt, one API
# address per line. Each node's API is published on 127.0.0.1 at its port of
# the test network's layout (26657+10K, from BASE_PORT=26656), where
# testnet.json names it: `govnode ... --testnet .compose` works as on a local
# test network. The image is ${GOVNODE_IMAGE:-govnode:latest} (make image); the
# CLI here is ${GOVNODE:-./build/govnode}; the compose project is
# ${COMPOSE_PROJECT_NAME:-govnode}; ${COMPOSE:-docker-compose} runs it
# (COMPOSE="docker compose" for the plugin).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${COMPOSE_DIR:-.compose}
BIN=${GOVNODE:-./build/govnode}
PROJECT=${COMPOSE_PROJECT_NAME:-govnode}
FAULT_MODEL=${FAULT_MODEL:-byzantine}
BASE_PORT=${BASE_PORT:-26656}
ACCOUNTS=${ACCOUNTS:-64}
N=4
# The image's user (contrib/docker/Dockerfile), who owns the home in a volume.
NODE_UID=10001
export GOVNODE_IMAGE=${GOVNODE_IMAGE:-govnode:latest}

die() { echo "compose: $*" >&2; exit 1; }

[[ $BASE_PORT =~ ^[0-9]+$ && $BASE_PORT -ge 1 && $BASE_PORT -le $((65535 - 10 * (N - 1) - 3)) ]] ||
	die "BASE_PORT $BASE_PORT: want 1..$((65535 - 10 * (N - 1) - 3))"
for ((k = 0; k < N; k++)); do
	export "GOVNODE_API_PORT$k=$((BASE_PORT + 10 * k + 1))"
done

read -r -a COMPOSE_CMD <<<"${COMPOSE:-docker-compose}"
dc() { "${COMPOSE_CMD[@]}" -f "$ROOT/contrib/docker/compose.yaml" -p "$PROJECT" "$@"; }

node_arg() {
	[[ ${1:-} =~ ^[0-9]+$ && $1 -lt $N ]] || die "usage: $0 $cmd K (K in 0..$((N - 1)))"
}

cmd=${1:-}
case $cmd in
up)
	[[ -x $BIN ]] || die "no govnode binary at $BIN (run 'make build' or set GOVNODE)"
	command -v docker >/dev/null || die "no docker"
	docker image inspect "$GOVNODE_IMAGE" >/dev/null 2>&1 || die "no image $GOVNODE_IMAGE (run 'make image')"
	[[ -z $(dc ps -a -q) ]] || die "project $PROJECT has containers: run '$0 down' first"
	rm -rf "$DIR"
	hosts=node0
	for ((k = 1; k < N; k++)); do hosts+=",node$k"; done
	"$BIN" testnet --validators "$N" --hosts "$hosts" --out "$DIR" --fault-model "$FAULT_MODEL" \
		--base-port "$BASE_PORT" --accounts "$ACCOUNTS" >"$DIR.testnet.log" 2>&1 ||
		{ cat "$DIR.testnet.log" >&2; die "govnode testnet failed"; }
	mv "$DIR.testnet.log" "$DIR/testnet.log"
	dc up --no-start
	: >"$DIR/api.txt"
	for ((k = 0; k < N; k++)); do
		cid=$(dc ps -a -q "node$k")
		[[ -n $cid ]] || die "no container for node$k"
		# The home into the volume, owned by the image's user: the image
		# has no shell to chown it there.
		tar -C "$DIR/node$k" --owner="$NODE_UID" --group="$NODE_UID" --numeric-owner -cf - . |
			docker cp - "$cid:/var/lib/govnode"
		echo "127.0.0.1:$((BASE_PORT + 10 * k + 1))" >>"$DIR/api.txt"
	done
	dc up -d
	for ((k = 0; k < N; k++)); do
		api=$(sed -n "$((k + 1))p" "$DIR/api.txt")
		for i in $(seq 60); do
			"$BIN" status --testnet "$DIR" --node "$api" --timeout 2s >/dev/null 2>&1 && break
			[[ $i -lt 60 ]] || { dc logs --tail 20 "node$k" >&2; die "node$k's API at $api does not answer"; }
			sleep 0.5
		done
	done
	echo "API addresses in $DIR/api.txt (https; call them with: $BIN status --testnet $DIR --node ADDR)"
	;;
down)
	dc down -v --remove-orphans
	echo "compose network $PROJECT down (containers and volumes removed; $DIR stays)"
	;;
kill)
	node_arg "${2:-}"
	dc kill -s KILL "node$2"
	;;
stop)
	node_arg "${2:-}"
	dc stop "node$2"
	;;
start)
	node_arg "${2:-}"
	dc start "node$2"
	;;
ps)
	dc ps
	;;
logs)
	node_arg "${2:-}"
	dc logs --no-color "node$2"
	;;
*)
	# The comment at the top, whole.
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
	exit 2
	;;
esac
