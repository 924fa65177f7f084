#!/usr/bin/env bash
# The whole test suite, as the README and CI run it. Installs what it needs
# (scripts/bootstrap.sh), builds the test binaries once for every phase,
# starts shared test servers on 127.0.0.1 and stops them by PID on exit,
# whatever happens. Prints each phase's time, and a summary at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
MOTO_PID=""
PHASE_NAMES=()
PHASE_SECONDS=()
PHASE_RESULTS=()
SUITE_STARTED=${SECONDS}

usage() {
  cat <<USAGE
Usage: scripts/test.sh [--help] [--rust-only]

Runs, in order, each phase timed:
  bootstrap      scripts/bootstrap.sh (tools into the project venvs)
  fmt            cargo fmt --check
  build          cargo test --workspace --no-run: the ONE build of the test
                 binaries; the demo and the Rust tests reuse it
  clippy         cargo clippy -D warnings (type-checks in its own, lighter mode)
  shellcheck, terraform checks (tests/terraform/run.sh), operator scripts
                 (tests/scripts/run.sh: bats against moto, files in parallel)
  demo           scripts/demo.sh --quiet on the binaries built above
  rust tests     unit, property, integration against moto, the OAuth servers
                 and the bridge receiver
--rust-only skips shellcheck, Terraform, bats and the demo.

A cold run (empty target/) compiles about 400 crates: roughly 13 minutes and
2.8 GB of disk on 2 cores; later runs reuse target/.
USAGE
}

log() { printf '\n==> %s\n' "$*" >&2; }

stop_servers() {
  if [[ -n "${MOTO_PID}" ]] && kill -0 "${MOTO_PID}" 2>/dev/null; then
    kill "${MOTO_PID}" 2>/dev/null || true
    wait "${MOTO_PID}" 2>/dev/null || true
  fi
}

summary() {
  local i total=$((SECONDS - SUITE_STARTED))
  ((${#PHASE_NAMES[@]} > 0)) || return 0
  printf '\n%-22s %8s  %s\n' "phase" "seconds" "result" >&2
  for i in "${!PHASE_NAMES[@]}"; do
    printf '%-22s %8s  %s\n' "${PHASE_NAMES[i]}" "${PHASE_SECONDS[i]}" "${PHASE_RESULTS[i]}" >&2
  done
  printf '%-22s %8s\n' "total" "${total}" >&2
}

on_exit() {
  stop_servers
  summary
}

# phase NAME COMMAND...: runs one phase, timed; stops the suite if it fails.
phase() {
  local name="$1" started=${SECONDS} status=0
  shift
  log "${name}"
  "$@" || status=$?
  PHASE_NAMES+=("${name}")
  PHASE_SECONDS+=("$((SECONDS - started))")
  if ((status == 0)); then
    PHASE_RESULTS+=("ok")
    printf '<== %s: %ss\n' "${name}" "$((SECONDS - started))" >&2
  else
    PHASE_RESULTS+=("FAILED (exit ${status})")
    printf '<== %s: FAILED after %ss (exit %s)\n' "${name}" "$((SECONDS - started))" "${status}" >&2
    exit "${status}"
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

# Builds every test binary, and with them target/debug/cf-passive-lambda,
# bridge-receiver and cf-loggen (the demo's binaries), in one feature set.
build_tests() {
  cargo test --workspace --locked --no-run
}

rust_tests() {
  mkdir -p target
  start_moto
  local status
  # --no-fail-fast: every failing test binary is reported, not just the first.
  { cargo test --workspace --locked --no-fail-fast 2>&1; echo "$?" >target/cargo-test.status; } | tee target/cargo-test.log
  status="$(cat target/cargo-test.status)"
  local passed failed
  passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' target/cargo-test.log | awk '{s+=$4} END {print s+0}')
  # Only cargo's own result lines: the tests' logs may say "N failed" too.
  failed=$(grep -E '^test result: ' target/cargo-test.log | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
  printf '\nrust: %s passed, %s failed\n' "${passed}" "${failed}" >&2
  return "${status}"
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
  trap on_exit EXIT
  if [[ ! -d target/debug ]]; then
    printf 'First build: about 13 minutes and 2.8 GB on 2 cores (cargo shows its progress).\n' >&2
  fi

  phase "bootstrap" scripts/bootstrap.sh
  phase "fmt" cargo fmt --all -- --check
  phase "build (test binaries)" build_tests
  phase "clippy" cargo clippy --workspace --all-targets --locked -- -D warnings

  if [[ "${rust_only}" == false ]]; then
    phase "shellcheck" shellcheck scripts/*.sh tests/*/*.sh
    phase "terraform checks" tests/terraform/run.sh
    phase "operator scripts (bats)" tests/scripts/run.sh
    phase "demo" scripts/demo.sh --quiet --no-build
  fi

  # Last, so the runner's own summary closes the output.
  phase "rust tests" rust_tests
}

main "$@"
