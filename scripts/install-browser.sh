#!/usr/bin/env bash
# Debian's Chromium and its WebDriver, for the test that renders the HTML report.
# Installs only what is missing; needs root (apt-get).
set -euo pipefail
missing=()
[[ -x /usr/lib/chromium/chromium ]] || missing+=(chromium)
[[ -x /usr/bin/chromedriver ]] || missing+=(chromium-driver)
if ((${#missing[@]} == 0)); then
    exit 0
fi
[[ $(id -u) -eq 0 ]] || { echo "install-browser.sh: installing ${missing[*]} needs root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-cache show chromium >/dev/null 2>&1 || timeout -k 10 300 apt-get update -qq
timeout -k 10 900 apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
