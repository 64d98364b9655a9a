#!/usr/bin/env bash
# Local stand-ins for the three base images that Dockerfile and
# docker-compose.yml name, for a machine that reaches no container registry:
#
#   golang:1.26                                 this host's Go toolchain (GOROOT), busybox-static
#                                               for RUN's sh and mkdir, this host's CA bundle
#                                               (RUN go mod download fetches over HTTPS)
#   gcr.io/distroless/static-debian12:nonroot   a root with /etc/passwd and /etc/group naming
#                                               nonroot (65532), the CA bundle, tzdata, /tmp;
#                                               no shell, default user 65532, as the real one
#   nats:2.15.2-alpine                          nats-server v2.15.2, static (go.mod's own when it
#                                               pins that version, else go install), behind an
#                                               entrypoint that, like the real image's, runs
#                                               nats-server when the first argument is a flag;
#                                               busybox-static for sh and wget (compose's check)
#
# For each image that is neither present nor pullable (a pull is tried, with
# a time limit), it imports a stand-in under the exact name, labelled
# org.loan-scorer.stand-in=true, and prints that name on stdout, one a line,
# so that a caller can remove what was made. Images already present, pulled
# or not, are left as they are. Progress goes to stderr.
#
#   bash scripts/container-standins.sh            # needs docker, go, busybox-static
set -euo pipefail
cd "$(dirname "$0")/.."

GOLANG_IMAGE=golang:1.26
DISTROLESS_IMAGE=gcr.io/distroless/static-debian12:nonroot
NATS_IMAGE=nats:2.15.2-alpine
NATS_VERSION=v2.15.2
PULL_TIMEOUT=${PULL_TIMEOUT:-60}
LABEL=org.loan-scorer.stand-in=true

log() { echo "standins: $*" >&2; }

for tool in docker go tar; do
	command -v "$tool" >/dev/null || { log "$tool is not installed"; exit 1; }
done
# A static busybox (ldd refuses it): the images have no libc to load a dynamic one.
if [[ ! -x /bin/busybox ]] || ldd /bin/busybox >/dev/null 2>&1; then
	log "a static /bin/busybox is needed: apt-get install -y busybox-static"
	exit 1
fi
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
[[ -s $CA_BUNDLE ]] || { log "no CA bundle at $CA_BUNDLE (apt-get install -y ca-certificates)"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# needed NAME: true when NAME is neither present nor pullable.
needed() {
	local name=$1
	if docker image inspect "$name" >/dev/null 2>&1; then
		log "$name: present"
		return 1
	fi
	if timeout "$PULL_TIMEOUT" docker pull -q "$name" >/dev/null 2>"$work/pull.err"; then
		log "$name: pulled"
		return 1
	fi
	log "$name: cannot be pulled ($(tail -n 1 "$work/pull.err")): making a stand-in"
	return 0
}

# busybox_into ROOT: a static busybox at ROOT/bin with a link per applet.
busybox_into() {
	local root=$1 applet
	mkdir -p "$root/bin"
	cp /bin/busybox "$root/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
	done
}

# base_etc ROOT: what a minimal Linux root needs for Go programs: users,
# groups, name service order, the CA bundle, a sticky /tmp.
base_etc() {
	local root=$1
	mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/root"
	chmod 1777 "$root/tmp"
	chmod 700 "$root/root"
	cp -L "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
	printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n' >"$root/etc/group"
}

made=()

if needed "$GOLANG_IMAGE"; then
	root=$work/golang
	busybox_into "$root"
	base_etc "$root"
	mkdir -p "$root/go/bin" "$root/go/src" "$root/usr/local"
	chmod -R 1777 "$root/go"
	goroot=$(go env GOROOT)
	gover=$(go env GOVERSION)
	# GOROOT is linked in (copied where links cannot cross file systems);
	# its test/ tree, not needed to build, stays out.
	if ! cp -al "$goroot" "$root/usr/local/go" 2>/dev/null; then
		rm -rf "$root/usr/local/go"
		cp -a "$goroot" "$root/usr/local/go"
	fi
	tar -c --numeric-owner --exclude=./usr/local/go/test -C "$root" . |
		docker import \
			--change "ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
			--change "ENV GOLANG_VERSION=${gover#go}" \
			--change "ENV GOPATH=/go" \
			--change "ENV GOTOOLCHAIN=local" \
			--change "WORKDIR /go" \
			--change "LABEL $LABEL" \
			--change 'CMD ["sh"]' \
			- "$GOLANG_IMAGE" >/dev/null
	log "$GOLANG_IMAGE: stand-in from $gover at $goroot"
	made+=("$GOLANG_IMAGE")
fi

if needed "$DISTROLESS_IMAGE"; then
	root=$work/distroless
	base_etc "$root"
	mkdir -p "$root/home/nonroot" "$root/usr/share"
	chown 65532:65532 "$root/home/nonroot"
	chmod 700 "$root/home/nonroot"
	if [[ -d /usr/share/zoneinfo ]]; then
		cp -a /usr/share/zoneinfo "$root/usr/share/zoneinfo"
	fi
	printf 'PRETTY_NAME="Distroless (loan-scorer stand-in)"\nNAME="Debian GNU/Linux"\nID="debian"\nVERSION_ID="12"\n' >"$root/etc/os-release"
	tar -c --numeric-owner -C "$root" . |
		docker import \
			--change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
			--change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
			--change "USER 65532" \
			--change "WORKDIR /home/nonroot" \
			--change "LABEL $LABEL" \
			- "$DISTROLESS_IMAGE" >/dev/null
	log "$DISTROLESS_IMAGE: stand-in"
	made+=("$DISTROLESS_IMAGE")
fi

if needed "$NATS_IMAGE"; then
	root=$work/nats
	busybox_into "$root"
	base_etc "$root"
	mkdir -p "$root/usr/local/bin" "$root/etc/nats"
	# The module's own nats-server when go.mod pins this version (built as
	# internal/faulttest builds it, so the build cache serves both), else
	# that version from the module proxy.
	if [[ $(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2 2>/dev/null) == "$NATS_VERSION" ]]; then
		CGO_ENABLED=0 go build -o "$root/usr/local/bin/nats-server" github.com/nats-io/nats-server/v2
	else
		GOBIN="$root/usr/local/bin" CGO_ENABLED=0 go install "github.com/nats-io/nats-server/v2@$NATS_VERSION"
	fi
	cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# Arguments that start with a flag are nats-server's; anything else runs as given.
set -e
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- nats-server "$@"
fi
exec "$@"
EOF
	chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
	printf 'port: 4222\nmonitor_port: 8222\n' >"$root/etc/nats/nats-server.conf"
	tar -c --numeric-owner -C "$root" . |
		docker import \
			--change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
			--change "EXPOSE 4222 6222 8222" \
			--change "LABEL $LABEL" \
			--change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
			--change 'CMD ["nats-server", "--config", "/etc/nats/nats-server.conf"]' \
			- "$NATS_IMAGE" >/dev/null
	log "$NATS_IMAGE: stand-in with nats-server $NATS_VERSION"
	made+=("$NATS_IMAGE")
fi

for name in "${made[@]}"; do
	echo "$name"
done
