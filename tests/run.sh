#!/usr/bin/env bash
# Set up a virtual environment with the test dependencies and run the whole suite
# (SETUP_ONLY=1: only set up, as .ci/run does before linting).
# The browser tests use Debian's chromium and the spam-score tests SpamAssassin; as root each
# is installed here when missing, otherwise those tests are skipped with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium and CJK fonts for the browser tests…"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi

if ! command -v spamassassin >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing SpamAssassin for the spam-score tests…"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq spamassassin >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
if [ "${SETUP_ONLY:-}" = 1 ]; then
  exit 0
fi
# One worker per CPU (at most 4: each browser test starts a Chromium); `-n 0` runs in one process.
exec .venv/bin/python -m pytest -n auto --maxprocesses 4 "$@"
