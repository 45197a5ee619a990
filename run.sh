#!/usr/bin/env bash
# One entry point that installs what is missing, then runs the app or the tests.
#   ./run.sh app [app options]    start the web app on http://127.0.0.1:7860 (demo corpus, offline)
#   ./run.sh test [pytest args]   run the test suite (CPU only)
#   ./run.sh cli ARGS...          python -m clm_gui ARGS...
set -euo pipefail
cd "$(dirname "$0")"
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"   # a CPU wheel on the CI machine; set to your CUDA build on a GPU box

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

install_once() {  # $1: requirements file; re-installs only when the file changed
  local stamp="$VENV/.installed-$(basename "$1")"
  if [ ! -f "$stamp" ] || [ "$1" -nt "$stamp" ]; then
    "$PY" -m pip install -q --upgrade pip
    "$PY" -c "import torch" 2>/dev/null || "$PY" -m pip install -q "$TORCH_SPEC"
    "$PY" -m pip install -q -r "$1"
    touch "$stamp"
  fi
}

browser_ready() {
  [ -x /usr/bin/chromium ] && return 0
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "warning: could not install chromium" >&2
  else
    echo "warning: /usr/bin/chromium is missing (apt-get install chromium); browser tests will fail" >&2
  fi
}

cmd="${1:-app}"; shift || true
case "$cmd" in
  app)  install_once requirements.txt; exec "$PY" app.py "$@" ;;
  # pytest's default verbosity, not -q: one more -q (from PYTEST_ADDOPTS or the arguments) drops the
  # closing "N passed ..." line, which CI and readers need; the output then ended at the last FAILED line.
  test) install_once requirements-dev.txt; browser_ready; exec "$PY" -m pytest "$@" ;;
  cli)  install_once requirements.txt; exec "$PY" -m clm_gui "$@" ;;
  *) echo "usage: ./run.sh app|test|cli [args]" >&2; exit 2 ;;
esac
