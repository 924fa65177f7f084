#!/usr/bin/env bash
# The whole test suite, as the README and CI run it. Installs what it needs
# (scripts/bootstrap.sh), starts shared test servers on 127.0.0.1 and stops
# them by PID on exit, whatever happens.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
MOTO_PID=""

usage() {
  cat <<USAGE
Usage: scripts/test.sh [--help] [--rust-only]

Runs, in order: bootstrap, cargo fmt --check, cargo clippy -D warnings,
the Terraform checks (tests/terraform/run.sh), the operator-script tests
(tests/scripts/run.sh), the end-to-end demo (scripts/demo.sh: the
compiled Lambda under cargo lambda watch against moto, an OAuth server and
the bridge receiver), then every Rust test (unit, property, integration
against moto, OAuth servers and the bridge receiver, and the Lambda
end-to-end run under cargo lambda watch).
USAGE
}

log() { printf '\n==> %s\n' "$*" >&2; }

stop_servers() {
  if [[ -n "${MOTO_PID}" ]] && kill -0 "${MOTO_PID}" 2>/dev/null; then
    kill "${MOTO_PID}" 2>/dev/null || true
    wait "${MOTO_PID}" 2>/dev/null || true
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# One moto server shared by the Rust tests (each test uses its own buckets).
start_moto() {
  local port
  port="$(free_port)"
  "${ROOT}/.venv/bin/moto_server" -H 127.0.0.1 -p "${port}" >"${ROOT}/target/moto-test.log" 2>&1 &
  MOTO_PID=$!
  local tries=0
  until curl -fsS "http://127.0.0.1:${port}/moto-api/" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if ((tries > 100)); then
      echo "moto did not start; see target/moto-test.log" >&2
      return 1
    fi
    sleep 0.2
  done
  export CF_PASSIVE_MOTO_URL="http://127.0.0.1:${port}"
}

main() {
  local rust_only=false
  case "${1:-}" in
    --help | -h) usage; return 0 ;;
    --rust-only) rust_only=true ;;
    "") ;;
    *) usage >&2; return 2 ;;
  esac
  cd "${ROOT}"
  trap stop_servers EXIT

  log "bootstrap"
  scripts/bootstrap.sh

  log "cargo fmt --check"
  cargo fmt --all -- --check

  log "cargo clippy"
  cargo clippy --workspace --all-targets --locked -- -D warnings

  if [[ "${rust_only}" == false ]]; then
    log "shellcheck"
    shellcheck scripts/*.sh tests/*/*.sh

    log "terraform checks"
    tests/terraform/run.sh

    if [[ -x tests/scripts/run.sh ]]; then
      log "operator scripts (bats against moto)"
      tests/scripts/run.sh
    fi
  fi

  if [[ "${rust_only}" == false ]]; then
    log "demo: the Lambda under cargo lambda watch, end to end (scripts/demo.sh)"
    scripts/demo.sh --quiet
  fi

  log "Rust tests"
  mkdir -p target
  start_moto
  # Last, so the runner's own summary closes the output.
  cargo test --workspace --locked 2>&1 | tee target/cargo-test.log
  local status=${PIPESTATUS[0]}
  local passed failed
  passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' target/cargo-test.log | awk '{s+=$4} END {print s+0}')
  failed=$(grep -Eo '[0-9]+ failed' target/cargo-test.log | awk '{s+=$1} END {print s+0}')
  printf '\nrust: %s passed, %s failed\n' "${passed}" "${failed}"
  return "${status}"
}

main "$@"
