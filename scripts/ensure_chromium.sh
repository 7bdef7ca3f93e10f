#!/usr/bin/env bash
# The comparison pages are checked in a real headless browser (tests/test_compare.py). Make sure one is
# there: Debian's chromium, installed with apt-get when this runs as root (CI containers). Never fails:
# where it cannot install, it says why and the browser test skips with the same reason.
set -uo pipefail
for b in "${MICROEXPR_CHROMIUM:-}" chromium chromium-browser google-chrome; do
  [ -n "$b" ] && command -v "$b" >/dev/null && exit 0
done
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "SKIPPED: no Chromium, and installing Debian's needs root and apt-get (install chromium yourself to run the browser test)"
  exit 0
fi
echo "installing Debian's chromium for the browser test (log: /tmp/microexpr-chromium-apt.log)"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
    >/tmp/microexpr-chromium-apt.log 2>&1; then
  echo "SKIPPED: apt-get could not install chromium (see /tmp/microexpr-chromium-apt.log)"
fi
exit 0
