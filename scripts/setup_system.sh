#!/usr/bin/env bash
# Installs the system tools CodeTune Studio uses, from Debian's packages, when they are missing:
#   javac/java (Java sandbox, javac -Xlint), checkstyle, mcs/mono (C# sandbox and warnings),
#   WordNet (METEOR), bubblewrap (network-isolated sandbox), chromium + an emoji font (browser tests).
# Idempotent: a tool already on PATH is not reinstalled.
set -euo pipefail

declare -A need=(
  [javac]=default-jdk-headless
  [checkstyle]=checkstyle
  [mcs]=mono-mcs
  [mono]=mono-runtime
  [bwrap]=bubblewrap
  [chromium]=chromium
)
pkgs=()
for tool in "${!need[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || pkgs+=("${need[$tool]}")
done
[ -f /usr/share/wordnet/data.noun ] || pkgs+=(wordnet-base wordnet-sense-index)
# the dashboard's icons in headless Chromium (browser tests, screenshots)
[ -d /usr/share/fonts/truetype/noto ] || pkgs+=(fonts-noto-color-emoji)
# mono needs its class libraries to compile anything that uses System.Linq / System.Numerics.
[ -d /usr/lib/mono/4.5 ] || pkgs+=(mono-runtime)

if [ ${#pkgs[@]} -eq 0 ]; then
  echo "system tools: all present"
  exit 0
fi
echo "system tools: installing ${pkgs[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "error: need root (or sudo) to install: apt-get install ${pkgs[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "system tools: installed"
