#!/usr/bin/env bash
# Install the system programs selflearn's speech test bed needs (today: espeak-ng), only where
# missing. Idempotent: a second run changes nothing. Used by `make` and CI; safe to run by hand.
#
# Exit status: 0 when every program is available afterwards (also when apt-get is unavailable but
# the program is already installed); 1 when a program is missing and could not be installed.
set -u

PROGRAMS=("espeak-ng")         # binaries that must be on PATH
PACKAGES=("espeak-ng")         # the Debian/Ubuntu package providing each, same order

missing_pkgs=()
for i in "${!PROGRAMS[@]}"; do
  prog="${PROGRAMS[$i]}"
  if command -v "$prog" >/dev/null 2>&1; then
    echo "install-system-deps: $prog already installed ($(command -v "$prog")), nothing to do"
  else
    echo "install-system-deps: $prog not found, will install package ${PACKAGES[$i]}"
    missing_pkgs+=("${PACKAGES[$i]}")
  fi
done

if [ "${#missing_pkgs[@]}" -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: apt-get is not available; install ${missing_pkgs[*]} yourself" >&2
  echo "  (macOS: brew install espeak-ng; Fedora: dnf install espeak-ng)" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-system-deps: not root and no sudo; run as root: apt-get install -y ${missing_pkgs[*]}" >&2
    exit 1
  fi
fi

echo "install-system-deps: running ${SUDO:+$SUDO }apt-get update && apt-get install -y ${missing_pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "install-system-deps: apt-get update failed, trying the install anyway" >&2
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}"; then
  echo "install-system-deps: apt-get install ${missing_pkgs[*]} failed" >&2
  exit 1
fi

status=0
for prog in "${PROGRAMS[@]}"; do
  if command -v "$prog" >/dev/null 2>&1; then
    echo "install-system-deps: installed $prog ($(command -v "$prog"))"
  else
    echo "install-system-deps: $prog still missing after install" >&2
    status=1
  fi
done
exit $status
