#!/usr/bin/env bash
# Run the operator-script tests: starts a private moto server, runs bats
# against it, and always stops moto (by PID) on exit. Exit status = bats's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${ROOT}/.venv/bin/python"
MOTO="${ROOT}/.venv/bin/moto_server"
MOTO_PID=""
MOTO_LOG=""
BATS_PID=""

usage() {
  echo "Usage: tests/scripts/run.sh [bats args...]   (needs .venv from scripts/bootstrap.sh)"
}

cleanup() {
  if [[ -n "${BATS_PID}" ]] && kill -0 "${BATS_PID}" 2>/dev/null; then
    kill "${BATS_PID}" 2>/dev/null || true
    wait "${BATS_PID}" 2>/dev/null || true
  fi
  if [[ -n "${MOTO_PID}" ]] && kill -0 "${MOTO_PID}" 2>/dev/null; then
    kill "${MOTO_PID}" 2>/dev/null || true
    wait "${MOTO_PID}" 2>/dev/null || true
  fi
  if [[ -n "${MOTO_LOG}" ]]; then rm -f "${MOTO_LOG}"; fi
}

main() {
  if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then usage; return 0; fi
  local tool
  for tool in "${PY}" "${MOTO}" "${ROOT}/.venv/bin/aws"; do
    [[ -x "${tool}" ]] || { echo "run.sh: missing ${tool}; run scripts/bootstrap.sh first" >&2; return 1; }
  done
  for tool in bats jq shellcheck; do
    command -v "${tool}" >/dev/null || { echo "run.sh: ${tool} not found; run scripts/bootstrap.sh first" >&2; return 1; }
  done

  local port
  port="$("${PY}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
  MOTO_LOG="$(mktemp)"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  "${MOTO}" -H 127.0.0.1 -p "${port}" >"${MOTO_LOG}" 2>&1 &
  MOTO_PID=$!

  local i ready=false
  for ((i = 0; i < 100; i++)); do
    if "${PY}" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
      "http://127.0.0.1:${port}/moto-api/" >/dev/null 2>&1; then
      ready=true
      break
    fi
    kill -0 "${MOTO_PID}" 2>/dev/null || break
    sleep 0.2
  done
  if [[ "${ready}" != "true" ]]; then
    echo "run.sh: moto_server did not start on port ${port}:" >&2
    cat "${MOTO_LOG}" >&2
    return 1
  fi

  export MOTO_PORT="${port}"
  local status=0
  # bats runs in the background so a signal reaches our traps at once.
  bats "$@" "${ROOT}"/tests/scripts/*.bats &
  BATS_PID=$!
  wait "${BATS_PID}" || status=$?
  BATS_PID=""
  return "${status}"
}

main "$@"
