#!/usr/bin/env bash
# Builds the Lambda zip that Terraform deploys -- the one way to build it:
#   target/lambda/cf-passive-lambda/bootstrap.zip
# with cargo-lambda and zig from the project venv, installing them
# (scripts/bootstrap.sh) and the Rust target (rustup) when they are missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT

usage() {
  cat <<USAGE
Usage: scripts/build-lambda.sh [--arch arm64|x86_64] [--dry-run] [--help]

  --arch     CPU architecture of the function (default arm64, Graviton);
             must match the Terraform variable 'architecture'.
  --dry-run  print the commands without running them.
USAGE
}

die() {
  printf 'build-lambda: %s\n' "$*" >&2
  exit 1
}

run() {
  printf '+ %s\n' "$*" >&2
  if [[ "${DRY_RUN}" == false ]]; then
    "$@"
  fi
}

DRY_RUN=false

main() {
  local arch="arm64"
  while (($# > 0)); do
    case "$1" in
      --arch) arch="${2:-}"; shift 2 ;;
      --dry-run) DRY_RUN=true; shift ;;
      --help | -h) usage; return 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
  local target arch_flag
  case "${arch}" in
    arm64) target="aarch64-unknown-linux-gnu"; arch_flag="--arm64" ;;
    x86_64) target="x86_64-unknown-linux-gnu"; arch_flag="--x86-64" ;;
    *) die "--arch must be arm64 or x86_64, not '${arch}'" ;;
  esac
  cd "${ROOT}"
  if ! command -v cargo >/dev/null || ! command -v rustup >/dev/null; then
    die "Rust is not installed: install it with rustup (https://rustup.rs), then run this again"
  fi
  [[ -x .venv/bin/cargo-lambda ]] || run scripts/bootstrap.sh
  if ! rustup target list --installed | grep -qx "${target}"; then
    run rustup target add "${target}" ||
      die "the Rust target ${target} is not available; install it with 'rustup target add ${target}'"
  fi
  if [[ ! -f "target/lambda/cf-passive-lambda/bootstrap" ]]; then
    printf 'build-lambda: a first release build takes about 10 minutes on 2 cores (cargo shows its progress)\n' >&2
  fi
  # cargo-lambda finds zig through the venv's PATH.
  PATH="${ROOT}/.venv/bin:${PATH}" run cargo lambda build --release "${arch_flag}" \
    --output-format zip -p cf-passive-lambda --bin cf-passive-lambda
  local zip="target/lambda/cf-passive-lambda/bootstrap.zip"
  if [[ "${DRY_RUN}" == false ]]; then
    [[ -f "${zip}" ]] || die "cargo lambda finished but ${zip} is missing"
    printf '%s: %s bytes (%s)\n' "${zip}" "$(stat -c %s "${zip}")" "${arch}"
  fi
}

main "$@"
