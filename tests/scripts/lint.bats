#!/usr/bin/env bats
# Script hygiene: --help, ShellCheck, strict mode, missing tools.

load helpers

@test "lint: ShellCheck is clean for the operator scripts, their library and the test runner" {
  run shellcheck "${ROOT}/scripts/setup-tfvars.sh" "${ROOT}/scripts/enable_aws_cf_integration.sh" \
    "${ROOT}/scripts/disable_aws_cf_integration.sh" "${ROOT}"/scripts/lib/*.sh "${ROOT}"/tests/scripts/*.sh
  assert_success
}

@test "lint: every script has --help, set -euo pipefail, umask 077 and main \"\$@\"" {
  for s in setup-tfvars.sh enable_aws_cf_integration.sh disable_aws_cf_integration.sh; do
    run "${ROOT}/scripts/${s}" --help
    assert_success
    assert_output --partial "Usage: scripts/${s}"
    assert_output --partial "--dry-run"
    grep -qx 'set -euo pipefail' "${ROOT}/scripts/${s}"
    # Whatever they write (tfvars with the secret, edited configs) is private.
    grep -qx 'umask 077' "${ROOT}/scripts/${s}"
    [ "$(tail -n 1 "${ROOT}/scripts/${s}")" = 'main "$@"' ]
    [ -x "${ROOT}/scripts/${s}" ]
  done
  [ -x "${ROOT}/tests/scripts/run.sh" ]
}

@test "lint: a missing tool is reported up front" {
  common_setup
  mkdir -p "${BATS_TEST_TMPDIR}/nojq"
  for t in bash cat dirname basename mktemp rm awk grep sed; do
    ln -sf "$(command -v "${t}")" "${BATS_TEST_TMPDIR}/nojq/${t}"
  done
  ln -sf "${BIN}/aws" "${BATS_TEST_TMPDIR}/nojq/aws"
  run env PATH="${BATS_TEST_TMPDIR}/nojq" "${REPO}/scripts/enable_aws_cf_integration.sh" --yes
  assert_failure
  assert_output --partial "preflight: required command(s) not found on PATH: jq terraform"
}
