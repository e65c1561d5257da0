#!/usr/bin/env bash
# System (Debian/Ubuntu) packages for offscreen rendering and the browser test
# of the review page:
#
#   libegl1 libegl-mesa0 libgl1-mesa-dri libgles2   headless OpenGL through EGL (Mesa, CPU)
#   libosmesa6                                       headless OpenGL through OSMesa (fallback)
#   chromium                                         headless browser for the review-page test
#   fonts-dejavu-core                                a font, so pages render text in screenshots
#
# Idempotent: packages already installed are skipped (nothing runs when all are
# present). Runs apt-get as root, through sudo when not root and sudo is
# available; otherwise prints the command to run and exits 1.
#
# Usage: scripts/install_system_deps.sh [--check]
#   --check   only report what is missing (exit 1 if anything is)
set -euo pipefail

PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 libosmesa6 chromium fonts-dejavu-core)

check_only=0
if [[ "${1:-}" == "--check" ]]; then
    check_only=1
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--check]" >&2
    exit 2
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install_system_deps: not a Debian-based system (no dpkg-query)." >&2
    echo "Install by hand: EGL + Mesa GL drivers, OSMesa, Chromium (packages here: ${PACKAGES[*]})." >&2
    exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install_system_deps: all present (${PACKAGES[*]})"
    exit 0
fi

echo "install_system_deps: missing: ${missing[*]}"
if [[ $check_only -eq 1 ]]; then
    exit 1
fi

if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "install_system_deps: need root to install them. Run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install_system_deps: installed ${missing[*]}"
