#!/usr/bin/env bash
# container.sh {install|env|rootfs|image [NAME]}: the container image with
# podman, no Docker engine and no registry needed (see docs/deployment.md).
#
#   install  install podman, runc and ca-certificates with apt-get when one
#            is missing (Debian; as root), write the podman configuration
#            (CONTAINERS_CONF) and check that podman works with it; idempotent
#   env      print `export CONTAINERS_CONF=...`: eval "$(bash deploy/container.sh env)"
#   rootfs   write bin/rootfs/: the image's files besides the binary (CA
#            certificates, /etc/passwd and /etc/group with the non-root user
#            tidemark, uid and gid 65532, its state directory, /tmp)
#   image    rootfs, then `podman build` the Dockerfile into NAME (default
#            tidemark:dev); needs bin/processor from `make build` (`make
#            image` runs both)
#
# The podman configuration, $TIDEMARK_CACHE/podman/containers.conf (default
# $HOME/.cache/tidemark), runs containers with runc (crun fails on cgroup v1
# hosts such as CI's) and without default ulimits (refused in some sandboxes).
# Everything fails loudly: a step that cannot be done exits non-zero with the
# reason, never skips.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${TIDEMARK_CACHE:-${HOME:-/tmp}/.cache/tidemark}"
CONF="$CACHE_DIR/podman/containers.conf"
ROOTFS="$REPO_ROOT/bin/rootfs"
# The image's non-root user; the Dockerfile's USER and --chown say the same.
TIDEMARK_UID=65532

log() { printf 'container.sh: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# ca_bundle: print the path of the host's CA bundle (PEM), if any.
ca_bundle() {
	local f
	for f in "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
		if [[ -n "$f" && -s "$f" ]]; then
			echo "$f"
			return 0
		fi
	done
	return 1
}

have_runc() { command -v runc >/dev/null 2>&1 || [[ -x /usr/sbin/runc ]]; }

write_conf() {
	mkdir -p "$(dirname "$CONF")"
	cat >"$CONF.tmp" <<'EOF'
# Written by deploy/container.sh; podman reads it through CONTAINERS_CONF.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF
	mv "$CONF.tmp" "$CONF"
}

install() {
	local need=()
	command -v podman >/dev/null 2>&1 || need+=(podman)
	have_runc || need+=(runc)
	ca_bundle >/dev/null || need+=(ca-certificates)
	if ((${#need[@]})); then
		command -v apt-get >/dev/null 2>&1 ||
			die "${need[*]} missing and no apt-get here: install them with the system's package manager"
		[[ "$(id -u)" == 0 ]] ||
			die "${need[*]} missing: run as root (or: sudo apt-get install --no-install-recommends ${need[*]})"
		log "installing ${need[*]} with apt-get"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq || die "apt-get update failed"
		apt-get install -y -qq --no-install-recommends podman runc ca-certificates >&2 ||
			die "apt-get install podman runc ca-certificates failed"
	fi
	command -v podman >/dev/null 2>&1 || die "podman is still not on PATH after installing it"
	have_runc || die "runc is still missing after installing it"
	write_conf
	local runtime
	runtime="$(CONTAINERS_CONF="$CONF" podman info --format '{{.Host.OCIRuntime.Name}}' 2>&1)" ||
		die "podman info with CONTAINERS_CONF=$CONF failed: $runtime"
	[[ "$runtime" == runc ]] || die "podman uses OCI runtime '$runtime', want runc (CONTAINERS_CONF=$CONF)"
	log "podman $(podman version --format '{{.Client.Version}}') with runc ready; CONTAINERS_CONF=$CONF"
}

rootfs() {
	local ca
	ca="$(ca_bundle)" || die "no CA bundle on this host (install ca-certificates: bash deploy/container.sh install)"
	rm -rf "$ROOTFS"
	mkdir -p "$ROOTFS/etc/ssl/certs" "$ROOTFS/etc/tidemark" "$ROOTFS/var/lib/tidemark" "$ROOTFS/tmp"
	cp "$ca" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
	printf 'root:x:0:0:root:/root:/sbin/nologin\ntidemark:x:%d:%d:Tidemark processor:/var/lib/tidemark:/sbin/nologin\n' \
		"$TIDEMARK_UID" "$TIDEMARK_UID" >"$ROOTFS/etc/passwd"
	printf 'root:x:0:\ntidemark:x:%d:\n' "$TIDEMARK_UID" >"$ROOTFS/etc/group"
	chmod 0644 "$ROOTFS/etc/passwd" "$ROOTFS/etc/group" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
	chmod 0755 "$ROOTFS/etc" "$ROOTFS/etc/ssl" "$ROOTFS/etc/ssl/certs" "$ROOTFS/etc/tidemark" "$ROOTFS/var" "$ROOTFS/var/lib" "$ROOTFS/var/lib/tidemark"
	chmod 1777 "$ROOTFS/tmp"
}

image() {
	local name="${1:-tidemark:dev}" bin="$REPO_ROOT/bin/processor" info
	[[ -x "$bin" ]] || die "$bin missing: run make build (or make image) first"
	# The final stage is FROM scratch: the binary must not need a libc.
	info="$(go version -m "$bin")" || die "go version -m $bin failed"
	grep -q 'CGO_ENABLED=0' <<<"$info" || die "$bin was not built with CGO_ENABLED=0 (use make build)"
	[[ -s "$CONF" ]] || die "$CONF missing: run bash deploy/container.sh install"
	rootfs
	cd "$REPO_ROOT"
	CONTAINERS_CONF="$CONF" podman build --quiet --tag "$name" --file Dockerfile . >/dev/null ||
		die "podman build of $name failed"
	log "built image $name"
}

case "${1:-}" in
install) install ;;
env) printf 'export CONTAINERS_CONF=%q\n' "$CONF" ;;
rootfs) rootfs ;;
image) image "${2:-}" ;;
*) die "usage: container.sh {install|env|rootfs|image [NAME]}" ;;
esac
