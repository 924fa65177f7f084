#!/usr/bin/env bash
# Run the operator-script tests: the .bats files are shared out among
# parallel workers, each with its own private moto server (every test resets
# moto, so workers must not share one). Always stops what it started, by PID,
# on exit. Exit status: 0 only if every worker's bats run passed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${ROOT}/.venv/bin/python"
MOTO="${ROOT}/.venv/bin/moto_server"
PIDS=()
WORK_DIR=""

usage() {
  cat <<USAGE
Usage: tests/scripts/run.sh [--jobs N] [FILE.bats...]   (needs .venv from scripts/bootstrap.sh)

Runs the given .bats files (default: every tests/scripts/*.bats) in N
parallel workers (default: the number of CPUs, at most the number of files;
BATS_WORKERS also sets it). Each worker has its own moto server.
USAGE
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "${pid}" 2>/dev/null; then
      kill "${pid}" 2>/dev/null || true
      wait "${pid}" 2>/dev/null || true
    fi
  done
  if [[ -n "${WORK_DIR}" ]]; then rm -rf "${WORK_DIR}"; fi
}

free_port() {
  "${PY}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_moto LOG: starts a moto server and sets STARTED_PORT once it answers.
# Not called in $(...): the PID must reach PIDS in this shell, or cleanup
# could not stop the server.
STARTED_PORT=""
start_moto() {
  local log="$1" port pid i
  port="$(free_port)"
  "${MOTO}" -H 127.0.0.1 -p "${port}" >"${log}" 2>&1 &
  pid=$!
  PIDS+=("${pid}")
  for ((i = 0; i < 150; i++)); do
    if "${PY}" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
      "http://127.0.0.1:${port}/moto-api/" >/dev/null 2>&1; then
      STARTED_PORT="${port}"
      return 0
    fi
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.2
  done
  echo "run.sh: moto_server did not start on port ${port}:" >&2
  cat "${log}" >&2
  return 1
}

main() {
  local jobs="${BATS_WORKERS:-}"
  local -a files=()
  while (($# > 0)); do
    case "$1" in
      -h | --help) usage; return 0 ;;
      --jobs) jobs="${2:-}"; shift 2 ;;
      *) files+=("$1"); shift ;;
    esac
  done
  local tool
  for tool in "${PY}" "${MOTO}" "${ROOT}/.venv/bin/aws"; do
    [[ -x "${tool}" ]] || { echo "run.sh: missing ${tool}; run scripts/bootstrap.sh first" >&2; return 1; }
  done
  for tool in bats jq shellcheck; do
    command -v "${tool}" >/dev/null || { echo "run.sh: ${tool} not found; run scripts/bootstrap.sh first" >&2; return 1; }
  done
  ((${#files[@]} > 0)) || files=("${ROOT}"/tests/scripts/*.bats)
  [[ -n "${jobs}" ]] || jobs="$(nproc)"
  [[ "${jobs}" =~ ^[1-9][0-9]*$ ]] || { usage >&2; return 2; }
  ((jobs <= ${#files[@]})) || jobs=${#files[@]}

  WORK_DIR="$(mktemp -d)"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  # Share the files out by test count, largest first, to the least loaded worker.
  local -a load=() lists=()
  local w file count best
  for ((w = 0; w < jobs; w++)); do load+=(0); lists+=(""); done
  while read -r count file; do
    best=0
    for ((w = 1; w < jobs; w++)); do
      if ((load[w] < load[best])); then best=${w}; fi
    done
    load[best]=$((load[best] + count))
    lists[best]+="${file}"$'\n'
  done < <(for file in "${files[@]}"; do
    printf '%s %s\n' "$(grep -c '^@test' "${file}" || true)" "${file}"
  done | sort -rn)

  local -a workers=() worker_files
  local port
  for ((w = 0; w < jobs; w++)); do
    start_moto "${WORK_DIR}/moto-${w}.log"
    port="${STARTED_PORT}"
    mapfile -t worker_files < <(printf '%s' "${lists[w]}")
    printf 'worker %s (moto on %s): %s\n' "${w}" "${port}" "${worker_files[*]##*/}" >&2
    MOTO_PORT="${port}" bats "${worker_files[@]}" >"${WORK_DIR}/bats-${w}.out" 2>&1 &
    workers+=("$!")
    PIDS+=("$!")
  done

  local status=0 worker_status
  for ((w = 0; w < jobs; w++)); do
    worker_status=0
    wait "${workers[w]}" || worker_status=$?
    printf '\n--- worker %s (exit %s) ---\n' "${w}" "${worker_status}"
    cat "${WORK_DIR}/bats-${w}.out"
    ((worker_status == 0)) || status=1
  done
  return "${status}"
}

main "$@"
