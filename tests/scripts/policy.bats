#!/usr/bin/env bats
# The deployer policy covers every AWS call of the scripts and every resource
# type of terraform/*.tf, and nothing is granted on "*" that IAM could scope.
# (No AWS or moto calls here.)

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

setup() {
  ROOT="$(cd "${BATS_TEST_DIRNAME}/../.." && pwd)"
  POLICY="${ROOT}/policies/cequence-tf-iam-cf-passive-policy.json"
  MAP="${BATS_TEST_DIRNAME}/fixtures/iam-action-map.tsv"
  STAR_OK="${BATS_TEST_DIRNAME}/fixtures/resource-star-allowed.tsv"
  TF_TYPES="${BATS_TEST_DIRNAME}/fixtures/terraform-types.txt"
}

# Every action the policy allows (patterns, as written).
policy_actions() {
  jq -r '.Statement[] | select(.Effect == "Allow") | .Action | if type == "array" then .[] else . end' "${POLICY}" | sort -u
}

# Succeeds when ACTION is allowed by some Allow statement (IAM-style glob).
policy_allows() {
  local action="$1" pattern
  while IFS= read -r pattern; do
    # shellcheck disable=SC2053  # glob match on purpose
    [[ "${action,,}" == ${pattern,,} ]] && return 0
  done < <(policy_actions)
  return 1
}

# "kind key" lines for every AWS CLI call in the scripts.
script_calls() {
  grep -ohE 'aws_r[ow][[:space:]]+[a-z0-9]+[[:space:]]+[a-z0-9-]+' \
    "${ROOT}"/scripts/*.sh "${ROOT}"/scripts/lib/*.sh |
    awk '{print "cli\t" $2 " " $3}' | sort -u
}

# "kind type" lines for terraform/*.tf in DIR plus the agreed fixture list.
terraform_types() {
  local dir="$1"
  {
    grep -v '^#' "${TF_TYPES}" | awk 'NF == 2 {print $1 "\t" $2}'
    if compgen -G "${dir}/*.tf" >/dev/null; then
      grep -ohE '^[[:space:]]*(resource|data)[[:space:]]+"[^"]+"' "${dir}"/*.tf |
        sed -E 's/^[[:space:]]*(resource|data)[[:space:]]+"([^"]+)"/\1\t\2/'
    fi
  } | sort -u
}

# Print every item whose mapping is missing or whose actions the policy lacks.
coverage_gaps() {
  local kind key actions a
  while IFS=$'\t' read -r kind key; do
    actions="$(awk -F'\t' -v k="${kind}" -v n="${key}" '$1 == k && $2 == n {print $3}' "${MAP}")"
    if [[ -z "${actions}" ]]; then
      echo "UNMAPPED ${kind} ${key} (add it to tests/scripts/fixtures/iam-action-map.tsv)"
      continue
    fi
    [[ "${actions}" == "-" ]] && continue
    for a in ${actions}; do
      policy_allows "${a}" || echo "NOT IN POLICY ${kind} ${key}: ${a}"
    done
  done
}

@test "policy: valid JSON, version 2012-10-17, every statement Allow with a unique descriptive Sid" {
  jq -e '.Version == "2012-10-17"' "${POLICY}"
  jq -e '[.Statement[] | .Sid | type == "string" and test("^[A-Za-z0-9]{12,}$")] | all' "${POLICY}"
  jq -e '[.Statement[].Sid] | length == (unique | length)' "${POLICY}"
  jq -e '[.Statement[] | .Effect == "Allow" and has("Action") and has("Resource")
          and (has("NotAction") or has("NotResource") or has("NotPrincipal") | not)] | all' "${POLICY}"
}

@test "policy: fits the 6144-character managed policy limit (whitespace excluded)" {
  size="$(jq -c . "${POLICY}" | tr -d '[:space:]' | wc -c)"
  echo "size=${size}"
  [ "${size}" -le 6144 ]
}

@test "policy: no * or service:* action; wildcards only on read-only prefixes" {
  run policy_actions
  refute_line --regexp '^\*$'
  refute_line --regexp '^[a-z0-9-]+:\*$'
  while IFS= read -r a; do
    if [[ "${a}" == *'*'* ]]; then
      [[ "${a}" =~ ^[a-z0-9-]+:(Get|List|Describe)[A-Za-z]+\*$ ]] || { echo "broad wildcard: ${a}"; false; }
    fi
  done < <(policy_actions)
}

@test "policy: Resource \"*\" only for actions without resource-level permissions (listed with reasons)" {
  allowed="$(grep -v '^#' "${STAR_OK}" | cut -f1 | sort -u)"
  run jq -r '.Statement[] | select((.Resource | if type == "array" then . else [.] end) | index("*"))
             | .Action | if type == "array" then .[] else . end' "${POLICY}"
  assert_success
  for a in ${output}; do
    grep -qxF -- "${a}" <<<"${allowed}" || { echo "${a} is granted on Resource \"*\" but is not in ${STAR_OK}"; false; }
  done
  # Every listed exception has a reason.
  ! grep -v '^#' "${STAR_OK}" | awk -F'\t' 'NF < 2 || $2 == ""' | grep -q .
}

@test "policy: names are scoped to cequence-cf-passive* wherever IAM allows" {
  jq -e '[.Statement[] | (.Resource | if type == "array" then .[] else . end)
          | select(startswith("arn:aws:s3:")) | startswith("arn:aws:s3:::cequence-cf-passive-")] | all' "${POLICY}"
  jq -e '[.Statement[] | (.Resource | if type == "array" then .[] else . end)
          | select(startswith("arn:aws:lambda:")) | test(":function:cequence-cf-passive-lambda-\\*$")] | all' "${POLICY}"
  jq -e '[.Statement[] | (.Resource | if type == "array" then .[] else . end)
          | select(startswith("arn:aws:iam:")) | . == "arn:aws:iam::*:role/cequence_cf_passive_lambda_role-*"] | all' "${POLICY}"
  jq -e '[.Statement[] | select(.Action | if type == "array" then index("iam:PassRole") else . == "iam:PassRole" end)
          | .Condition.StringEquals["iam:PassedToService"] == "lambda.amazonaws.com"] | (length > 0 and all)' "${POLICY}"
  jq -e '[.Statement[] | select(.Action | if type == "array" then index("cloudfront:TagResource") else . == "cloudfront:TagResource" end)
          | .Condition["ForAllValues:StringEquals"]["aws:TagKeys"] == ["cequence-enabled"]] | (length > 0 and all)' "${POLICY}"
  for r in "arn:aws:sqs:*:*:cequence-cf-passive-*" "arn:aws:secretsmanager:*:*:secret:cequence-cf-passive-*" \
    "arn:aws:logs:*:*:log-group:/aws/lambda/cequence-cf-passive-*" "arn:aws:cloudwatch:*:*:alarm:cequence-cf-passive-*" \
    "arn:aws:sns:*:*:cequence-cf-passive-*" "arn:aws:logs:us-east-1:*:delivery-source:CequenceCloudFront-*" \
    "arn:aws:logs:us-east-1:*:delivery-destination:cequence-cf-passive-*"; do
    jq -e --arg r "${r}" '[.Statement[] | (.Resource | if type == "array" then .[] else . end)] | index($r)' "${POLICY}" >/dev/null ||
      { echo "missing scoped resource ${r}"; false; }
  done
}

@test "policy: every aws <service> <operation> the scripts call is covered" {
  run script_calls
  assert_success
  [ "${#lines[@]}" -ge 10 ]
  run coverage_gaps < <(script_calls)
  assert_output ""
}

@test "policy: the scripts call the AWS CLI only through aws_ro/aws_rw with a literal service and operation" {
  # Direct invocations (the two wrapper bodies excepted).
  run bash -c 'grep -nE "(^[[:space:]]*|\\\$\\([[:space:]]*|[|;&][[:space:]]*)aws[[:space:]]" "$@" | grep -vF "aws \"\$@\" --output json"' _ \
    "${ROOT}"/scripts/*.sh "${ROOT}"/scripts/lib/*.sh
  assert_output ""
  run grep -c -F 'aws "$@" --output json' "${ROOT}/scripts/lib/common.sh"
  assert_output "2"
  run grep -nE '^[^#]*aws_r[ow][[:space:]]+[^a-z[:space:]]' "${ROOT}"/scripts/*.sh "${ROOT}"/scripts/lib/*.sh
  assert_output ""
}

@test "policy: every resource and data type in terraform/*.tf (and the agreed list) is covered" {
  # POLICY_TF_DIR lets you check another checkout's terraform/.
  tf_dir="${POLICY_TF_DIR:-${ROOT}/terraform}"
  run terraform_types "${tf_dir}"
  [ "${#lines[@]}" -ge 32 ]
  run coverage_gaps < <(terraform_types "${tf_dir}")
  assert_output ""
}

@test "policy: the coverage check fails on a type or an operation it doesn't know" {
  mkdir -p "${BATS_TEST_TMPDIR}/tf"
  printf 'resource "aws_dynamodb_table" "x" {\n}\n  data "aws_vpc" "y" {}\n' >"${BATS_TEST_TMPDIR}/tf/main.tf"
  run coverage_gaps < <(terraform_types "${BATS_TEST_TMPDIR}/tf")
  assert_line "UNMAPPED resource aws_dynamodb_table (add it to tests/scripts/fixtures/iam-action-map.tsv)"
  assert_line "UNMAPPED data aws_vpc (add it to tests/scripts/fixtures/iam-action-map.tsv)"
  run coverage_gaps < <(printf 'cli\tec2 run-instances\n')
  assert_output --partial "UNMAPPED cli ec2 run-instances"
  MAP="${BATS_TEST_TMPDIR}/map.tsv"
  printf 'cli\tec2 run-instances\tec2:RunInstances\n' >"${MAP}"
  run coverage_gaps < <(printf 'cli\tec2 run-instances\n')
  assert_output "NOT IN POLICY cli ec2 run-instances: ec2:RunInstances"
}

@test "policy: grants nothing the map doesn't need (every allowed action is used)" {
  needed="$(grep -v '^#' "${MAP}" | cut -f3 | tr ' ' '\n' | grep -v '^-$' | sort -u)"
  # kms:Encrypt/Decrypt/GenerateDataKey/CreateGrant are used by Secrets Manager and
  # Lambda on our behalf when a customer managed key encrypts the secret or env vars.
  needed+=$'\nkms:Encrypt\nkms:Decrypt\nkms:GenerateDataKey\nkms:CreateGrant'
  while IFS= read -r pattern; do
    found=false
    while IFS= read -r a; do
      # shellcheck disable=SC2053
      [[ "${a}" == ${pattern} ]] && { found=true; break; }
    done <<<"${needed}"
    [[ "${found}" == "true" ]] || { echo "policy allows ${pattern}, which nothing in the map needs"; false; }
  done < <(policy_actions)
}

@test "policy: every statement is documented in docs/operations.md" {
  for sid in $(jq -r '.Statement[].Sid' "${POLICY}"); do
    grep -qF "\`${sid}\`" "${ROOT}/docs/operations.md" || { echo "Sid ${sid} not documented"; false; }
  done
}
