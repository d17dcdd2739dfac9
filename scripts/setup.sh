#!/usr/bin/env bash
# Install every build and test dependency of ghrun from Debian's packages.
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

pkgs=(
    build-essential cmake pkg-config git ca-certificates
    libuv1-dev libcurl4-openssl-dev libjansson-dev libarchive-dev libgit2-dev
    libssl-dev libseccomp-dev libcmocka-dev libyaml-dev libzstd-dev
    clang clang-format

    python3 python3-pytest python3-pytest-cov python3-coverage black mypy flake8
    zstd curl hyperfine
)

# Node.js runs JavaScript actions and the official toolkit tests; keep a node that is
# already installed (e.g. from NodeSource) rather than pulling Debian's alongside it.
if ! command -v node >/dev/null 2>&1; then
    pkgs+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1; then
    pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#pkgs[@]} packages present"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
