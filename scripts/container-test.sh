#!/usr/bin/env bash
# Builds the image from the Dockerfile and runs it for real, alone and as the
# docker-compose.yml stack, then removes everything it made. Run by hand, and
# by scripts/test.sh when CI=true (where nothing is skipped: what is missing
# fails the run).
#
#   bash scripts/container-test.sh
#
# 1. installs what is missing (apt: docker.io, docker-compose; busybox-static
#    and nftables when needed), starts dockerd when none answers (and then
#    stops it at the end and restores the nftables ruleset and forwarding
#    sysctls it changed, and removes docker0);
# 2. makes local stand-ins for the three base images only when they can be
#    neither found nor pulled (scripts/container-standins.sh);
# 3. builds the image with the classic builder and with BuildKit;
# 4. runs the classic image --read-only --cap-drop ALL with a volume on /data
#    (the embedded NATS stores there): start-to-ready, /readyz, POST /predict
#    with the seed loan, uid/gid 65532 and no capabilities (from /proc),
#    health turning healthy, `docker stop` draining to exit 0; a second one,
#    as README's other `docker run` form (a NATS container on a user-defined
#    network, nats://NAME:4222), read-only with no mount at all and
#    SCORER_HTTP_ADDR moved, turns healthy too and gets no volume (the image
#    declares none); it is then stopped in the middle of a backlog of
#    CONTAINER_TEST_BACKLOG applications (default 20000), exits 0, and once
#    started again the backlog's results are each stored exactly once;
# 5. brings the compose stack up on the BuildKit image with the parquet
#    profile on free loopback ports (every service healthy, the sink
#    through its own /readyz), publishes CONTAINER_TEST_LOANS
#    applications (default 3000) to loans.score through the stack's NATS,
#    and checks that LOANS_SCORED holds each result exactly once, that both
#    workers scored (their own /metrics, summing to the total), that the
#    sync subject and both /predict answer, then stops the stack (every exit
#    code 0) and reads the sink's Parquet files back with arrow-go: exactly
#    those results;
# 6. prints a step-by-step time table, the image and binary sizes and the
#    start-to-ready time.
#
# CONTAINER_TEST_KEEP=1 keeps the images it built and the stand-ins it made
# (the layer caches with them), so that a re-run by hand skips the builds;
# the default removes them. CONTAINER_TEST_BUILDKIT=0 skips the BuildKit build
# (by hand only; refused under CI). COMPOSE picks the compose command
# (default: `docker compose` when present, else docker-compose).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

LOANS=${CONTAINER_TEST_LOANS:-3000}
KEEP=${CONTAINER_TEST_KEEP:-0}
if [[ ${CONTAINER_TEST_BUILDKIT:-1} == 0 && ${CI:-} == true ]]; then
	echo "container-test: FAIL: CONTAINER_TEST_BUILDKIT=0 is for runs by hand: CI builds with both builders" >&2
	exit 1
fi
SEED_PROBA=0.4075209202802358 # the demo model's answer for the seed loan (README)
SEED='{"Term":84,"NoEmp":5,"CreateJob":0,"RetainedJob":5,"longitude":-77.9221,"latitude":35.3664,"GrAppv":1500000.0,"SBA_Appv":1275000.0,"is_new":true,"FranchiseCode":"0","UrbanRural":1,"City":"Other","State":"NC","Bank":"BBCN BANK","BankState":"CA","RevLineCr":"N","naics_first_two":"45","same_state":false}'
RUN_ID=lsct$$
if [[ $KEEP == 1 ]]; then
	IMAGE=loan-scorer:container-test
else
	IMAGE=loan-scorer:$RUN_ID
fi
IMAGE_BK=$IMAGE-buildkit
TMP=$(mktemp -d)

# --- time table, logging, cleanup ------------------------------------------

STEPS=()
now() { date +%s.%N; }
T_ALL=$(now)
T_STEP=$T_ALL
STEP_NAME=""
log() { echo "container-test: $*" >&2; }
step() {
	[[ -z $STEP_NAME ]] || end_step
	STEP_NAME=$1
	T_STEP=$(now)
	log "== $STEP_NAME"
}
end_step() {
	STEPS+=("$(awk -v a="$T_STEP" -v b="$(now)" -v n="$STEP_NAME" 'BEGIN { printf "%-64s %7.1f s", n, b - a }')")
	STEP_NAME=""
}
table() {
	echo
	echo "container-test: time table"
	printf '%s\n' "${STEPS[@]}"
	awk -v a="$T_ALL" -v b="$(now)" 'BEGIN { printf "%-64s %7.1f s\n", "total", b - a }'
}
fail() {
	log "FAIL: $*"
	exit 1
}

STARTED_DOCKERD=0
DOCKERD_PID=
MADE_STANDINS=()
COMPOSE_UP=0
CONTAINERS=()
VOLUMES=()
NETWORKS=()

cleanup() {
	local rc=$?
	set +e
	if ((rc != 0)); then
		[[ -z $STEP_NAME ]] || STEPS+=("$STEP_NAME: FAILED")
		log "FAILED (exit $rc); logs of what ran:"
		for c in "${CONTAINERS[@]}"; do
			echo "--- docker logs $c (last 30 lines)" >&2
			docker logs --tail 30 "$c" >&2 2>&1
		done
		if ((COMPOSE_UP)); then
			echo "--- compose logs (last 30 lines per service)" >&2
			compose logs --no-color --tail 30 >&2 2>&1
		fi
	fi
	if ((COMPOSE_UP)); then
		compose down -v --remove-orphans >/dev/null 2>&1
	fi
	for c in "${CONTAINERS[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
	for v in "${VOLUMES[@]}"; do docker volume rm -f "$v" >/dev/null 2>&1; done
	for n in "${NETWORKS[@]}"; do docker network rm "$n" >/dev/null 2>&1; done
	if [[ $KEEP != 1 ]]; then
		remove_images
	fi
	if ((STARTED_DOCKERD)); then
		stop_dockerd
	fi
	rm -rf "$TMP"
	((${#STEPS[@]})) && table
	if ((rc == 0)); then log "PASS"; else log "FAIL"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# remove_images removes the images this run built (and the classic
# builder's intermediate images), the stand-ins it made, and, on an engine it
# started, BuildKit's cache; on an engine that was running before, BuildKit's
# cache stays (docker builder prune removes it).
remove_images() {
	local ids i
	docker image rm -f "$IMAGE" "$IMAGE_BK" >/dev/null 2>&1
	for i in "${MADE_STANDINS[@]}"; do docker image rm -f "$i" >/dev/null 2>&1; done
	if [[ -f $TMP/images.before ]]; then
		# Children before parents: a few passes remove the whole chain.
		for _ in 1 2 3 4 5; do
			ids=$(comm -13 "$TMP/images.before" <(docker image ls -aq --no-trunc | sort -u))
			[[ -n $ids ]] || break
			# shellcheck disable=SC2086
			docker image rm $ids >/dev/null 2>&1
		done
	fi
	if ((STARTED_DOCKERD)); then
		docker builder prune -af >/dev/null 2>&1
	fi
}

# --- dockerd and the host state it changes -----------------------------------

SYSCTLS=(net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables)
declare -A SYSCTL_WAS=()
HAD_DOCKER0=0

start_dockerd() {
	local k v
	nft list ruleset >"$TMP/nft.before"
	for k in "${SYSCTLS[@]}"; do
		if v=$(sysctl -n "$k" 2>/dev/null); then SYSCTL_WAS[$k]=$v; fi
	done
	ip link show docker0 >/dev/null 2>&1 && HAD_DOCKER0=1
	dockerd >"$TMP/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	STARTED_DOCKERD=1
	for _ in $(seq 120); do
		docker info >/dev/null 2>&1 && return 0
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.5
	done
	tail -n 20 "$TMP/dockerd.log" >&2
	fail "dockerd did not answer within 60 s"
}

stop_dockerd() {
	local k
	kill -TERM "$DOCKERD_PID" 2>/dev/null
	for _ in $(seq 60); do
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$DOCKERD_PID" 2>/dev/null; then
		log "dockerd (pid $DOCKERD_PID) still running after 30 s: killing it"
		kill -KILL "$DOCKERD_PID" 2>/dev/null
	fi
	wait "$DOCKERD_PID" 2>/dev/null
	# The ruleset as it was before dockerd: its tables, chains and rules go.
	nft flush ruleset && nft -f "$TMP/nft.before"
	for k in "${!SYSCTL_WAS[@]}"; do sysctl -qw "$k=${SYSCTL_WAS[$k]}"; done
	((HAD_DOCKER0)) || ip link delete docker0 2>/dev/null
	if ! cmp -s "$TMP/nft.before" <(nft list ruleset); then
		log "WARNING: the nftables ruleset differs from the one before dockerd started"
	else
		log "dockerd stopped; nftables ruleset and sysctls restored"
	fi
}

compose() {
	# shellcheck disable=SC2086 # COMPOSE may be two words
	LOAN_SCORER_IMAGE=$IMAGE_BK LOAN_SCORER_NATS_PORT=$NATS_PORT \
		LOAN_SCORER_HTTP_PORT_1=$HTTP_PORT_1 LOAN_SCORER_HTTP_PORT_2=$HTTP_PORT_2 \
		$COMPOSE -p "$RUN_ID" -f "$ROOT/docker-compose.yml" --profile parquet "$@"
}

# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.1 s until it
# succeeds, failing the run after SECONDS.
wait_for() {
	local limit=$1 what=$2 deadline
	shift 2
	deadline=$(awk -v t="$(now)" -v l="$limit" 'BEGIN { printf "%.3f", t + l }')
	until "$@" >/dev/null 2>&1; do
		if awk -v t="$(now)" -v d="$deadline" 'BEGIN { exit !(t > d) }'; then
			fail "$what: not within $limit s"
		fi
		sleep 0.1
	done
}

health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1"; }
is_healthy() { [[ $(health "$1") == healthy ]]; }

# --- 1. prerequisites --------------------------------------------------------

step "install what is missing (apt)"
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
command -v curl >/dev/null || need+=(curl)
if ! docker info >/dev/null 2>&1; then
	command -v nft >/dev/null || need+=(nftables)
fi
if ((${#need[@]})); then
	log "apt-get install ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [[ -z ${COMPOSE:-} ]]; then
	if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi
fi
log "docker client $(docker version -f '{{.Client.Version}}' 2>/dev/null || true) at $(command -v docker); compose: $($COMPOSE version --short 2>/dev/null || $COMPOSE version | head -n 1)"

step "Docker engine"
if docker info >/dev/null 2>&1; then
	log "a Docker engine answers already: using it"
else
	start_dockerd
	log "started dockerd (pid $DOCKERD_PID)"
fi
log "engine $(docker version -f '{{.Server.Version}}'), storage $(docker info -f '{{.Driver}}')"

step "base images (stand-ins where they cannot be pulled)"
standins() { bash "$ROOT/scripts/container-standins.sh"; }
if ! made=$(standins 2>"$TMP/standins.err"); then
	if grep -q busybox-static "$TMP/standins.err"; then
		apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends busybox-static >/dev/null
		made=$(standins 2>"$TMP/standins.err") || { cat "$TMP/standins.err" >&2; fail "stand-ins"; }
	else
		cat "$TMP/standins.err" >&2
		fail "stand-ins"
	fi
fi
cat "$TMP/standins.err" >&2
[[ -z $made ]] || mapfile -t MADE_STANDINS <<<"$made"

# --- 2. builds ---------------------------------------------------------------

step "host-side checker (go build ./internal/containercheck)"
go build -o "$TMP/containercheck" ./internal/containercheck
read -r PORT_A PORT_NATS_B NATS_PORT HTTP_PORT_1 HTTP_PORT_2 < <("$TMP/containercheck" ports 5 | xargs)

# Every image the builds leave (the classic builder's intermediate ones
# too) is removed at the end: what is here now stays.
docker image ls -aq --no-trunc | sort -u >"$TMP/images.before"

step "docker build, classic builder"
DOCKER_BUILDKIT=0 docker build -t "$IMAGE" . >"$TMP/build.log" 2>&1 ||
	{ tail -n 40 "$TMP/build.log" >&2; fail "classic build"; }
log "classic build: $(grep -c '^Step ' "$TMP/build.log") steps, $(grep -c 'Using cache' "$TMP/build.log") from the layer cache"

step "docker build, BuildKit"
if [[ ${CONTAINER_TEST_BUILDKIT:-1} == 0 ]]; then
	log "skipped (CONTAINER_TEST_BUILDKIT=0): the compose stack runs the classic image"
	IMAGE_BK=$IMAGE
else
	# Debian's docker.io 20.10 client drives the engine's own BuildKit; newer
	# clients need the buildx plugin, which Debian 12 does not package.
	if docker buildx version >/dev/null 2>&1; then
		bk=(docker buildx build --load --progress=plain)
	elif [[ -x /usr/bin/docker ]] && [[ $(/usr/bin/docker version -f '{{.Client.Version}}' 2>/dev/null) == 20.* ]]; then
		bk=(/usr/bin/docker build --progress=plain)
	else
		fail "no BuildKit-capable client: neither docker buildx nor Debian's docker.io 20.10 client"
	fi
	DOCKER_BUILDKIT=1 "${bk[@]}" -t "$IMAGE_BK" . >"$TMP/build-bk.log" 2>&1 ||
		{ tail -n 40 "$TMP/build-bk.log" >&2; fail "BuildKit build"; }
	log "BuildKit build: $(grep -c '^#[0-9]* CACHED' "$TMP/build-bk.log") steps from its cache"
fi
# Both builders read the same context (.dockerignore included) and build
# reproducibly (-trimpath, no VCS stamp): the binaries must be the same bytes.
binary_sha() {
	docker create --name "$RUN_ID-bin" "$1" >/dev/null
	docker cp "$RUN_ID-bin:/usr/local/bin/scorer" "$TMP/scorer"
	docker rm "$RUN_ID-bin" >/dev/null
	sha256sum "$TMP/scorer" | cut -d' ' -f1
}
CONTAINERS+=("$RUN_ID-bin")
sha_classic=$(binary_sha "$IMAGE")
if [[ $IMAGE_BK != "$IMAGE" ]]; then
	sha_bk=$(binary_sha "$IMAGE_BK")
	[[ $sha_bk == "$sha_classic" ]] || fail "the BuildKit image's scorer ($sha_bk) differs from the classic one's ($sha_classic)"
	log "both images hold the same scorer binary (sha256 $sha_classic)"
fi

# --- 3. one container --------------------------------------------------------

step "docker run --read-only --cap-drop ALL: start to /readyz"
[[ $(docker image inspect -f '{{json .Config.Volumes}}' "$IMAGE") == null ]] || fail "the image declares a VOLUME"
A=$RUN_ID-single
B=$RUN_ID-moved
NATS_SINGLE=$RUN_ID-nats
NET=$RUN_ID-net
CONTAINERS+=("$A" "$B" "$NATS_SINGLE")
NETWORKS+=("$NET")
VOLUMES+=("$RUN_ID-data")
t0=$(now)
docker run -d --name "$A" --read-only --cap-drop ALL --security-opt no-new-privileges \
	--stop-timeout 40 -v "$RUN_ID-data:/data" -p "127.0.0.1:$PORT_A:8989" "$IMAGE" >/dev/null
wait_for 60 "/readyz of $A" curl -sf "http://127.0.0.1:$PORT_A/readyz"
READY_S=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
started=$(docker inspect -f '{{.State.StartedAt}}' "$A")
READY_PROC_S=$(awk -v a="$(date -d "$started" +%s.%N)" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
log "ready ${READY_S} s after docker run (${READY_PROC_S} s after the process started; polled every 0.1 s)"

step "one container: /predict, uid, capabilities, read-only, health"
answer=$(curl -sf -X POST "http://127.0.0.1:$PORT_A/predict" -d "$SEED")
[[ $answer == "{\"default_proba\":$SEED_PROBA}" ]] || fail "POST /predict answered $answer, want {\"default_proba\":$SEED_PROBA}"
log "POST /predict: $answer"
pid=$(docker inspect -f '{{.State.Pid}}' "$A")
status=$(cat "/proc/$pid/status")
grep -Eq $'^Uid:\t65532\t65532\t65532\t65532$' <<<"$status" || fail "process uids: $(grep ^Uid <<<"$status")"
grep -Eq $'^Gid:\t65532\t65532\t65532\t65532$' <<<"$status" || fail "process gids: $(grep ^Gid <<<"$status")"
grep -Eq $'^CapEff:\t0+$' <<<"$status" || fail "effective capabilities: $(grep ^CapEff <<<"$status")"
grep -Eq $'^CapBnd:\t0+$' <<<"$status" || fail "bounding capabilities: $(grep ^CapBnd <<<"$status")"
grep -Eq $'^NoNewPrivs:\t1$' <<<"$status" || fail "no_new_privs not set"
[[ $(docker inspect -f '{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}}' "$A") == 'true ["ALL"]' ]] ||
	fail "not read-only with every capability dropped"
log "pid $pid: uid/gid 65532, no capabilities, no_new_privs, root file system read-only"
# An external NATS by container name on a user-defined network, the
# address moved, no mount: health must follow the address, and the
# container must get no anonymous volume.
docker network create "$NET" >/dev/null
docker run -d --name "$NATS_SINGLE" --network "$NET" -p "127.0.0.1:$PORT_NATS_B:4222" nats:2.15.2-alpine --jetstream >/dev/null
docker run -d --name "$B" --network "$NET" --read-only --cap-drop ALL --security-opt no-new-privileges \
	--stop-timeout 40 -e "SCORER_NATS_URL=nats://$NATS_SINGLE:4222" -e SCORER_HTTP_ADDR=0.0.0.0:9090 "$IMAGE" >/dev/null
wait_for 60 "health of $A turning healthy" is_healthy "$A"
wait_for 60 "health of $B (SCORER_HTTP_ADDR=0.0.0.0:9090) turning healthy" is_healthy "$B"
[[ $(docker logs "$B" 2>&1) == *"msg=\"connected to NATS\" url=nats://$NATS_SINGLE:4222"* ]] ||
	fail "$B is not on the NATS container: $(docker logs "$B" 2>&1 | tail -n 3)"
log "both healthy: $A probed on :8989 (embedded NATS), $B on :9090 (nats://$NATS_SINGLE:4222, read-only, no mount)"
[[ $(docker inspect -f '{{len .Mounts}}' "$B") == 0 ]] || fail "$B got a volume: $(docker inspect -f '{{json .Mounts}}' "$B")"

# stop_clean C N: docker stop C; it must exit 0, not be OOM-killed, and have
# logged its N-th drain (shutting down ... stopped) since it was created.
stop_clean() {
	local c=$1 n=$2 t took code oom logs
	t=$(now)
	docker stop "$c" >/dev/null
	took=$(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	read -r code oom < <(docker inspect -f '{{.State.ExitCode}} {{.State.OOMKilled}}' "$c")
	[[ $code == 0 && $oom == false ]] || fail "$c exited $code (OOM killed: $oom)"
	logs=$(docker logs "$c" 2>&1)
	if [[ $(grep -c 'msg="shutting down"' <<<"$logs") != "$n" || $(grep -c 'msg=stopped' <<<"$logs") != "$n" ]]; then
		fail "$c: drain $n not in its log: $(tail -n 3 <<<"$logs")"
	fi
	log "$c: stopped in $took s, exit 0, drained (shutting down ... stopped)"
}

step "one container: docker stop drains, exit 0"
stop_clean "$A" 1
store=$(docker cp "$A:/data" - | tar -t)
# shellcheck disable=SC2016 # $G is the literal account directory
grep -qF 'data/jetstream/jetstream/$G/streams/LOANS_SCORED/' <<<"$store" ||
	fail "the embedded JetStream store is not on /data: $store"
log "the embedded JetStream store is on the /data volume (the only writable place)"

BACKLOG=${CONTAINER_TEST_BACKLOG:-20000}
step "docker stop mid-backlog ($BACKLOG): drained, each result once"
# B's NATS (published on loopback) gets a backlog while B is stopped; B is
# started, stopped again once 1,000 results are in, then started to finish.
NATS_B=nats://127.0.0.1:$PORT_NATS_B
stop_clean "$B" 1
"$TMP/containercheck" score --nats "$NATS_B" --n "$BACKLOG" --prefix "$RUN_ID-backlog" --verify=false
docker start "$B" >/dev/null
at_stop=$("$TMP/containercheck" results --nats "$NATS_B" --at-least 1000 --timeout 60s)
stop_clean "$B" 2
after=$("$TMP/containercheck" results --nats "$NATS_B")
((after < BACKLOG)) || fail "all $BACKLOG were scored before the stop took effect: nothing was in flight (raise CONTAINER_TEST_BACKLOG)"
log "$B stopped with $at_stop of $BACKLOG results stored, $after after its drain"
docker start "$B" >/dev/null
"$TMP/containercheck" score --nats "$NATS_B" --n "$BACKLOG" --prefix "$RUN_ID-backlog" --publish=false --timeout 2m
stop_clean "$B" 3

# --- 4. the compose stack ----------------------------------------------------

step "compose up --profile parquet: every service healthy"
COMPOSE_UP=1
compose up -d >"$TMP/compose-up.log" 2>&1 || { cat "$TMP/compose-up.log" >&2; fail "compose up"; }
svc_id() { compose ps -q "$1"; }
NATS_C=$(svc_id nats)
S1=$(svc_id scorer-1)
S2=$(svc_id scorer-2)
SINK=$(svc_id parquet-sink)
for c in "$NATS_C" "$S1" "$S2" "$SINK"; do [[ -n $c ]] || fail "a service has no container: $(compose ps)"; done
for c in "$NATS_C" "$S1" "$S2" "$SINK"; do
	wait_for 90 "health of $(docker inspect -f '{{.Name}}' "$c")" is_healthy "$c"
done
sink_started() { [[ $(docker logs "$SINK" 2>&1) == *'msg="parquet sink started"'* ]]; }
wait_for 60 "the Parquet sink starting" sink_started
[[ $(docker inspect -f '{{.State.Status}} {{.State.Restarting}}' "$SINK") == "running false" ]] || fail "the sink is not running"
for c in "$S1" "$S2" "$SINK"; do
	[[ $(docker inspect -f '{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}} {{json .HostConfig.SecurityOpt}}' "$c") == 'true ["ALL"] ["no-new-privileges:true"]' ]] ||
		fail "$(docker inspect -f '{{.Name}}' "$c") is not read-only with every capability dropped and no-new-privileges"
done
log "nats, scorer-1, scorer-2 and parquet-sink healthy (the sink's own /readyz); workers and sink read-only, no capabilities; NATS on 127.0.0.1:$NATS_PORT, workers on :$HTTP_PORT_1 and :$HTTP_PORT_2"

step "compose: $LOANS loans through loans.score, every result once"
"$TMP/containercheck" score --nats "nats://127.0.0.1:$NATS_PORT" --n "$LOANS" --prefix "$RUN_ID" \
	--out "$TMP/results.json" --timeout 3m

step "compose: both workers scored; sync and /predict answer"
"$TMP/containercheck" workers --n "$LOANS" "http://127.0.0.1:$HTTP_PORT_1/metrics" "http://127.0.0.1:$HTTP_PORT_2/metrics"
"$TMP/containercheck" sync --nats "nats://127.0.0.1:$NATS_PORT" --want "$SEED_PROBA"
for port in "$HTTP_PORT_1" "$HTTP_PORT_2"; do
	answer=$(curl -sf -X POST "http://127.0.0.1:$port/predict" -d "$SEED")
	[[ $answer == "{\"default_proba\":$SEED_PROBA}" ]] || fail "POST :$port/predict answered $answer"
done
log "POST /predict on both workers: {\"default_proba\":$SEED_PROBA}"

step "compose stop: every exit code 0"
compose stop >"$TMP/compose-stop.log" 2>&1 || { cat "$TMP/compose-stop.log" >&2; fail "compose stop"; }
for c in "$NATS_C" "$S1" "$S2" "$SINK"; do
	read -r name code status < <(docker inspect -f '{{.Name}} {{.State.ExitCode}} {{.State.Status}}' "$c")
	[[ $code == 0 && $status == exited ]] || fail "$name: $status, exit code $code"
	log "$name: exited 0"
done
[[ $(docker logs "$SINK" 2>&1) == *'msg="parquet sink stopped"'* ]] || fail "the sink did not log its stop"

step "compose: the Parquet files hold exactly those results"
mkdir "$TMP/scores"
docker cp "$SINK:/data/scores/." "$TMP/scores"
"$TMP/containercheck" parquet --dir "$TMP/scores" --results "$TMP/results.json"

step "compose down -v"
compose down -v --remove-orphans >/dev/null 2>&1
COMPOSE_UP=0

# --- 5. figures --------------------------------------------------------------

end_step
image_size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
image_bk_size=$(docker image inspect -f '{{.Size}}' "$IMAGE_BK")
binary_sha "$IMAGE" >/dev/null
bin_size=$(stat -c %s "$TMP/scorer")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB (%d bytes)", b / 1048576, b }'; }
base=gcr.io/distroless/static-debian12:nonroot
base_size=$(docker image inspect -f '{{.Size}}' "$base")
base_note=""
if [[ $(docker image inspect -f '{{index .Config.Labels "org.loan-scorer.stand-in"}}' "$base") == true ]]; then
	base_note=" (local stand-in)"
fi
echo
echo "container-test: figures"
printf '  %-42s %s\n' \
	"image, classic builder" "$(mib "$image_size")" \
	"image, BuildKit" "$(if [[ $IMAGE_BK != "$IMAGE" ]]; then mib "$image_bk_size"; else echo "not built (CONTAINER_TEST_BUILDKIT=0)"; fi)" \
	"/usr/local/bin/scorer in the image" "$(mib "$bin_size")" \
	"$base" "$(mib "$base_size")$base_note" \
	"start to ready (/readyz 200)" "${READY_S} s from docker run, ${READY_PROC_S} s from the process start"
