#!/usr/bin/env bash
# Install the Debian packages that some tests drive for real — Chromium (browser tests
# through Playwright), nginx (the frontend's nginx config, the Ingress stand-in), buildah
# (building the images without a Docker daemon), debootstrap (local stand-ins for base
# images no registry serves here) and dnsmasq (the cluster DNS stand-in of the image
# tests) — when they are missing and this user may install them (root with apt-get).
# Otherwise say how to get them: the tests that need them skip with a visible reason.
set -uo pipefail

declare -A wanted=([chromium]=/usr/bin/chromium [nginx]=/usr/sbin/nginx
                  [buildah]=/usr/bin/buildah [debootstrap]=/usr/sbin/debootstrap
                  [dnsmasq-base]=/usr/sbin/dnsmasq)
missing=()
for pkg in "${!wanted[@]}"; do
  [ -x "${wanted[$pkg]}" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system packages: installing ${missing[*]} (apt-get)"
  if DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
     DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; then
    exit 0
  fi
  echo "system packages: apt-get could not install ${missing[*]}; the tests that need them will skip"
else
  echo "system packages: ${missing[*]} missing; the tests that need them will skip."
  echo "  To run them: sudo apt-get install -y ${missing[*]}"
fi
exit 0
