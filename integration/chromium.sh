#!/usr/bin/env bash
# chromium.sh [path]: make sure a headless-capable Chromium is installed for
# the dashboard's browser test (integration/dashboard_test.go), installing
# Debian's `chromium` package with apt-get when it is missing (needs root, as
# CI runs). `path` prints the browser's path, for TIDEMARK_CHROMIUM.
#
# The test itself never installs anything: it fails, naming this script, when
# no browser can be found or started.
set -euo pipefail

find_chromium() {
	if [[ -n "${TIDEMARK_CHROMIUM:-}" ]]; then
		[[ -x "$TIDEMARK_CHROMIUM" ]] || { echo "TIDEMARK_CHROMIUM=$TIDEMARK_CHROMIUM is not an executable" >&2; return 1; }
		echo "$TIDEMARK_CHROMIUM"
		return 0
	fi
	local c
	for c in chromium chromium-browser google-chrome-stable google-chrome; do
		if command -v "$c" >/dev/null 2>&1; then
			command -v "$c"
			return 0
		fi
	done
	return 1
}

install_chromium() {
	if find_chromium >/dev/null; then
		return 0
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "chromium.sh: no Chromium found and no apt-get to install it: install Chromium and set TIDEMARK_CHROMIUM to its path" >&2
		return 1
	fi
	local sudo=()
	if [[ "$(id -u)" != 0 ]]; then
		command -v sudo >/dev/null 2>&1 || { echo "chromium.sh: installing chromium needs root (or sudo)" >&2; return 1; }
		sudo=(sudo)
	fi
	echo "chromium.sh: installing Debian's chromium package (for the dashboard's browser test)" >&2
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
	find_chromium >/dev/null || { echo "chromium.sh: chromium installed but not found on PATH" >&2; return 1; }
}

case "${1:-install}" in
install) install_chromium ;;
path) find_chromium || { echo "chromium.sh: no Chromium found: run bash integration/chromium.sh" >&2; exit 1; } ;;
*)
	echo "usage: chromium.sh [install|path]" >&2
	exit 2
	;;
esac
