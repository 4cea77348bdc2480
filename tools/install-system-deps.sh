#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only when they are missing:
# postgresql-15 (the suite starts its own throwaway server), espeak-ng and sox (prompts),
# chromium and chromium-driver (the browser tests drive /usr/bin/chromium with Playwright),
# systemd (systemd-analyze verifies the units in deploy/).
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql-15)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need+=(sox)
[ -x /usr/bin/chromium ] || need+=(chromium chromium-driver)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "missing Debian packages: ${need[*]} (run as root or install them)" >&2; exit 1
    fi
else SUDO=""; fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
