#!/usr/bin/env bash
# Runs `terraform init -backend=false` and `terraform validate` on terraform/.
# Needs a terraform binary and the provider registry (or a local provider
# mirror), so it is not part of the offline test suite (tests/terraform/run.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT

usage() {
  cat <<USAGE
Usage: scripts/terraform-validate.sh [--plugin-dir DIR] [--help]

Validates terraform/ with a throw-away data directory (nothing is
written to terraform/.terraform and no state or backend is touched).

Options:
  --plugin-dir DIR  install providers from a local mirror instead of the
                    registry (terraform init -plugin-dir=DIR)
  -h, --help        show this help

Environment:
  TERRAFORM         terraform binary to use (default: terraform on PATH)
USAGE
}

log() { printf '[terraform-validate] %s\n' "$*" >&2; }

main() {
  local plugin_dir=""
  while (($# > 0)); do
    case "$1" in
      --plugin-dir)
        [[ $# -ge 2 ]] || { usage >&2; return 2; }
        plugin_dir="$2"
        shift 2
        ;;
      -h | --help)
        usage
        return 0
        ;;
      *)
        log "unknown argument: $1"
        usage >&2
        return 2
        ;;
    esac
  done

  local terraform="${TERRAFORM:-terraform}"
  if ! command -v "${terraform}" >/dev/null 2>&1; then
    log "terraform not found (set TERRAFORM=/path/to/terraform)"
    return 1
  fi

  local data_dir
  data_dir="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand data_dir now, the local is gone at exit
  trap "rm -rf '${data_dir}'" EXIT

  local -a init_args=(-backend=false -input=false)
  [[ -z "${plugin_dir}" ]] || init_args+=("-plugin-dir=${plugin_dir}")

  log "terraform init ${init_args[*]}"
  TF_DATA_DIR="${data_dir}" "${terraform}" -chdir="${ROOT}/terraform" init "${init_args[@]}" >&2
  log "terraform validate"
  TF_DATA_DIR="${data_dir}" "${terraform}" -chdir="${ROOT}/terraform" validate
}

main "$@"
