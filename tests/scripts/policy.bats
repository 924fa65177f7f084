#!/usr/bin/env bats
# The deployer policy: derived from the code in both directions, linted by
# parliament, and it cannot escalate beyond the permissions boundary.
# (No AWS or moto calls here.)

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

setup() {
  ROOT="$(cd "${BATS_TEST_DIRNAME}/../.." && pwd)"
  POLICY="${ROOT}/policies/cequence-tf-iam-cf-passive-policy.json"
  # The optional add-on for real-time logs and the dashboard.
  POLICY_RT="${ROOT}/policies/cequence-tf-iam-cf-passive-realtime-policy.json"
  BOUNDARY="${ROOT}/policies/cequence-cf-passive-boundary-policy.json"
  MAP="${ROOT}/policies/deployer-actions.tsv"
  TF_DIR="${ROOT}/terraform"
  SCRIPTS_DIR="${ROOT}/scripts"
  PARLIAMENT="${ROOT}/.venv-parliament/bin/parliament"
}

# Every action an Allow statement of the deployer policies grants (patterns, as written).
policy_actions() {
  jq -r '.Statement[] | select(.Effect == "Allow") | .Action | if type == "array" then .[] else . end' \
    "${POLICY}" "${POLICY_RT}" | sort -u
}

# Succeeds when ACTION is granted by some Allow statement (IAM-style glob).
policy_allows() {
  local action="$1" pattern
  while IFS= read -r pattern; do
    # shellcheck disable=SC2053  # glob match on purpose
    [[ "${action,,}" == ${pattern,,} ]] && return 0
  done < <(policy_actions)
  return 1
}

# "cli<TAB>service operation" for every AWS CLI call in the scripts.
script_calls() {
  grep -ohE 'aws_r[ow][[:space:]]+[a-z0-9]+[[:space:]]+[a-z0-9-]+' "${SCRIPTS_DIR}"/*.sh "${SCRIPTS_DIR}"/lib/*.sh |
    awk '{print "cli\t" $2 " " $3}' | sort -u
}

# "kind<TAB>type" for every resource, data and ephemeral block in DIR/*.tf.
terraform_types() {
  local dir="$1"
  if compgen -G "${dir}/*.tf" >/dev/null; then
    grep -ohE '^[[:space:]]*(resource|data|ephemeral)[[:space:]]+"[^"]+"' "${dir}"/*.tf |
      sed -E 's/^[[:space:]]*(resource|data|ephemeral)[[:space:]]+"([^"]+)"/\1\t\2/' | sort -u
  fi
}

# Everything the code uses.
used_keys() {
  {
    terraform_types "${TF_DIR}"
    script_calls
  } | sort -u
}

# Rows of the map: "kind<TAB>key<TAB>actions".
map_rows() { grep -v '^#' "${MAP}" | awk -F'\t' 'NF >= 3'; }

# Print every gap, in both directions; nothing when code, map and policy agree.
coverage_gaps() {
  local used kind key actions a needed="" pattern found
  used="$(used_keys)"
  while IFS=$'\t' read -r kind key; do
    [[ -n "${kind}" ]] || continue
    actions="$(map_rows | awk -F'\t' -v k="${kind}" -v n="${key}" '$1 == k && $2 == n {print $3}')"
    if [[ -z "${actions}" ]]; then
      echo "UNMAPPED ${kind} ${key} (add a row to policies/deployer-actions.tsv)"
      continue
    fi
    [[ "${actions}" == "-" ]] && continue
    for a in ${actions}; do
      needed+="${a}"$'\n'
      policy_allows "${a}" || echo "NOT GRANTED ${kind} ${key}: ${a}"
    done
  done <<<"${used}"
  while IFS=$'\t' read -r kind key _; do
    grep -qxF "${kind}"$'\t'"${key}" <<<"${used}" || echo "STALE ROW ${kind} ${key} (nothing in terraform/ or scripts/ uses it)"
  done < <(map_rows)
  while IFS= read -r pattern; do
    found=false
    while IFS= read -r a; do
      [[ -n "${a}" ]] || continue
      # shellcheck disable=SC2053
      [[ "${a,,}" == ${pattern,,} ]] && { found=true; break; }
    done <<<"${needed}"
    [[ "${found}" == "true" ]] || echo "NOT NEEDED ${pattern} (no block type or script call needs it)"
  done < <(policy_actions)
}

@test "policy: valid JSON, version 2012-10-17, every statement Allow with a unique descriptive Sid" {
  for p in "${POLICY}" "${POLICY_RT}" "${BOUNDARY}"; do
    jq -e '.Version == "2012-10-17"' "${p}"
    jq -e '[.Statement[] | .Sid | type == "string" and test("^[A-Za-z0-9]{12,}$")] | all' "${p}"
    jq -e '[.Statement[] | .Effect == "Allow" and has("Action") and has("Resource")
            and (has("NotAction") or has("NotResource") or has("NotPrincipal") | not)] | all' "${p}"
  done
  jq -s -e '[.[].Statement[].Sid] | length == (unique | length)' "${POLICY}" "${POLICY_RT}"
}

@test "policy: each fits the 6144-character managed policy limit (whitespace excluded)" {
  for p in "${POLICY}" "${POLICY_RT}" "${BOUNDARY}"; do
    size="$(jq -c . "${p}" | tr -d '[:space:]' | wc -c)"
    echo "${p##*/}: ${size}"
    [ "${size}" -lt 6144 ]
  done
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

@test "policy: two-way coverage: terraform/*.tf block types and scripts' aws calls <-> map <-> policy" {
  run terraform_types "${TF_DIR}"
  [ "${#lines[@]}" -ge 20 ]
  run script_calls
  [ "${#lines[@]}" -ge 10 ]
  run coverage_gaps
  assert_output ""
}

@test "policy: the coverage check fails on unknown types and calls, stale rows, missing and unneeded grants" {
  TF_DIR="${BATS_TEST_TMPDIR}/tf"
  SCRIPTS_DIR="${BATS_TEST_TMPDIR}/scripts"
  mkdir -p "${TF_DIR}" "${SCRIPTS_DIR}/lib"
  printf 'resource "aws_dynamodb_table" "x" {\n}\n  ephemeral "random_password" "p" {}\nresource "aws_sqs_queue" "q" {}\n' >"${TF_DIR}/main.tf"
  printf 'aws_rw ec2 run-instances --x\n' >"${SCRIPTS_DIR}/a.sh"
  run coverage_gaps
  assert_line "UNMAPPED resource aws_dynamodb_table (add a row to policies/deployer-actions.tsv)"
  assert_line "UNMAPPED cli ec2 run-instances (add a row to policies/deployer-actions.tsv)"
  assert_line "STALE ROW resource aws_lambda_function (nothing in terraform/ or scripts/ uses it)"
  assert_line "NOT NEEDED lambda:CreateFunction (no block type or script call needs it)"
  refute_line --partial "random_password"
  refute_line --partial "aws_sqs_queue"
  MAP="${BATS_TEST_TMPDIR}/map.tsv"
  printf 'cli\tec2 run-instances\tec2:RunInstances\n' >"${MAP}"
  run coverage_gaps
  assert_line "NOT GRANTED cli ec2 run-instances: ec2:RunInstances"
}

@test "policy: the scripts call the AWS CLI only through aws_ro/aws_rw with a literal service and operation" {
  run bash -c 'grep -nE "(^[[:space:]]*|\\\$\\([[:space:]]*|[|;&][[:space:]]*)aws[[:space:]]" "$@" | grep -vF "aws \"\$@\" --output json"' _ \
    "${ROOT}"/scripts/*.sh "${ROOT}"/scripts/lib/*.sh
  assert_output ""
  run grep -c -F 'aws "$@" --output json' "${ROOT}/scripts/lib/common.sh"
  assert_output "2"
  run grep -nE '^[^#]*aws_r[ow][[:space:]]+[^a-z[:space:]]' "${ROOT}"/scripts/*.sh "${ROOT}"/scripts/lib/*.sh
  assert_output ""
}

@test "policy: parliament reports nothing of medium or higher severity (community auditors included)" {
  [ -x "${PARLIAMENT}" ] || { echo "missing ${PARLIAMENT}: run scripts/bootstrap.sh"; false; }
  cd "${ROOT}"
  run "${PARLIAMENT}" --directory policies --include_policy_extension json --include-community-auditors \
    --minimum_severity MEDIUM --config policies/parliament.yaml
  assert_success
  assert_output ""
}

@test "policy: every parliament exception has a reason and matches exactly the findings it was written for" {
  [ -x "${PARLIAMENT}" ] || { echo "missing ${PARLIAMENT}: run scripts/bootstrap.sh"; false; }
  cd "${ROOT}"
  # Unfiltered run: every MEDIUM+ finding must be an expected exception.
  "${PARLIAMENT}" --directory policies --include_policy_extension json --include-community-auditors \
    --minimum_severity MEDIUM --json >"${BATS_TEST_TMPDIR}/raw.json" || true
  run "${ROOT}/.venv-parliament/bin/python" - "${BATS_TEST_TMPDIR}/raw.json" policies/parliament.yaml <<'PY'
import json, re, sys, yaml
raw = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
config = yaml.safe_load(open(sys.argv[2]))
problems = []
for issue, settings in config.items():
    if len(str(settings.get("reason", "")).strip()) < 40:
        problems.append(f"{issue}: no reason")
    if not settings.get("expected"):
        problems.append(f"{issue}: no expected pattern")
seen = set()
for f in raw:
    location = {k: v for k, v in f["location"].items() if k != "filepath"}
    text = f"{f['detail'] if isinstance(f['detail'], str) else json.dumps(f['detail'], separators=(',', ':'))} {json.dumps(location, separators=(',', ':'))}"
    settings = config.get(f["issue"])
    if settings is None or not re.fullmatch(settings["expected"].strip(), text):
        problems.append(f"unexpected finding {f['issue']}: {text}")
    seen.add(f["issue"])
for issue in config:
    if issue not in seen:
        problems.append(f"{issue}: exception no longer needed; remove it")
for problem in problems:
    print(problem)
print(f"{len(raw)} finding(s) checked")
PY
  assert_success
  assert_output --regexp '^[0-9]+ finding\(s\) checked$'
}

@test "policy: parliament flags what it should (the linter works here)" {
  [ -x "${PARLIAMENT}" ] || { echo "missing ${PARLIAMENT}: run scripts/bootstrap.sh"; false; }
  bad='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","logs:DescribeLogGroups"],"Resource":"arn:aws:s3:::b/*"},{"Effect":"Allow","Action":"iam:PutRolePolicy","Resource":"*"}]}'
  run bash -c 'printf "%s" "$2" | "$1" --minimum_severity LOW --include-community-auditors --json' _ "${PARLIAMENT}" "${bad}"
  assert_failure
  assert_output --partial '"issue": "RESOURCE_MISMATCH"'
  assert_output --partial '"issue": "RESOURCE_STAR"'
}

@test "policy: role changes only with the permissions boundary; Terraform attaches the same boundary" {
  # Every action that creates a role or changes its permissions is conditioned on the boundary.
  for a in iam:CreateRole iam:PutRolePolicy iam:DeleteRolePolicy iam:PutRolePermissionsBoundary; do
    jq -s -e --arg a "${a}" '[.[].Statement[] | select(.Action | if type == "array" then index($a) else . == $a end)]
      | length > 0 and all(.Condition.ArnEquals["iam:PermissionsBoundary"]
        == "arn:aws:iam::${aws:PrincipalAccount}:policy/cequence-cf-passive-boundary")' "${POLICY}" "${POLICY_RT}" >/dev/null ||
      { echo "${a} is not conditioned on the boundary"; false; }
  done
  # Roles are passed only to the service that uses them.
  jq -s -e '[.[].Statement[] | select(.Action == "iam:PassRole") | [.Resource, .Condition.StringEquals["iam:PassedToService"]]]
    == [["arn:aws:iam::*:role/cequence_cf_passive_lambda_role-*", "lambda.amazonaws.com"],
        ["arn:aws:iam::*:role/cequence_cf_passive_realtime_role-*", "cloudfront.amazonaws.com"]]' "${POLICY}" "${POLICY_RT}"
  # Nothing that could lift the boundary or retarget the role.
  run policy_actions
  for a in iam:DeleteRolePermissionsBoundary iam:UpdateAssumeRolePolicy iam:AttachRolePolicy iam:CreatePolicy \
    iam:CreatePolicyVersion iam:SetDefaultPolicyVersion lambda:InvokeFunction; do
    refute_line "${a}"
  done
  grep -qE 'default[[:space:]]+=[[:space:]]+"cequence-cf-passive-boundary"' "${ROOT}/terraform/variables.tf"
  jq -e '.Version == "2012-10-17" and ([.Statement[] | .Effect == "Allow"] | all)' "${BOUNDARY}"
}

@test "policy: lambda:AddPermission/RemovePermission only for the principal Terraform uses" {
  principal="$(grep -hE '^[[:space:]]*principal[[:space:]]+=' "${ROOT}"/terraform/*.tf | sed -E 's/.*"([^"]+)".*/\1/' | sort -u)"
  [ "${principal}" = "s3.amazonaws.com" ]
  jq -e --arg p "${principal}" '[.Statement[] | select(.Action | if type == "array" then (index("lambda:AddPermission") or index("lambda:RemovePermission")) else false end)]
    | length == 1 and all(.Condition.StringEquals["lambda:Principal"] == $p)' "${POLICY}"
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
  jq -e '[.Statement[] | select(.Action | if type == "array" then (index("cloudfront:TagResource") or index("cloudfront:UntagResource")) else false end)
          | .Condition["ForAllValues:StringEquals"]["aws:TagKeys"] == ["cequence-enabled", "cequence-original-logging", "cequence-original-realtime"]] | (length > 0 and all)' "${POLICY}"
  # ... and those are exactly the tag keys the scripts write (readonly CF_*TAG* constants).
  keys="$(sed -nE 's/^readonly CF_[A-Z_]*TAG[A-Z_]*="([^"]+)"$/\1/p' "${SCRIPTS_DIR}"/lib/*.sh | sort | jq -R . | jq -cs .)"
  [ "$(jq -r '.|length' <<<"${keys}")" -eq 3 ]
  jq -e --argjson k "${keys}" '[.Statement[] | select(.Action | if type == "array" then index("cloudfront:TagResource") else false end)
          | .Condition["ForAllValues:StringEquals"]["aws:TagKeys"] | sort] == [$k]' "${POLICY}"
  # Sources, put or deleted, only ours; deliveries only to our destination.
  jq -e '[.Statement[] | select(.Action | if type == "array" then (index("logs:PutDeliverySource") or index("logs:DeleteDeliverySource")) else false end)
          | .Resource | if type == "array" then .[] else . end | select(test(":delivery-source:"))] == ["arn:aws:logs:us-east-1:*:delivery-source:CequenceCloudFront-*"]' "${POLICY}"
  jq -e '[.Statement[] | select(.Action | if type == "array" then index("logs:CreateDelivery") else false end)
          | .Resource | if type == "array" then .[] else . end | select(test(":delivery-destination:"))] == ["arn:aws:logs:us-east-1:*:delivery-destination:cequence-cf-passive-*"]' "${POLICY}"
  for r in "arn:aws:sqs:*:*:cequence-cf-passive-*" "arn:aws:secretsmanager:*:*:secret:cequence-cf-passive-*" \
    "arn:aws:logs:*:*:log-group:/aws/lambda/cequence-cf-passive-*" "arn:aws:cloudwatch:*:*:alarm:cequence-cf-passive-*" \
    "arn:aws:sns:*:*:cequence-cf-passive-*"; do
    jq -e --arg r "${r}" '[.Statement[] | (.Resource | if type == "array" then .[] else . end)] | index($r)' "${POLICY}" >/dev/null ||
      { echo "missing scoped resource ${r}"; false; }
  done
}

@test "policy: every statement of the policies is documented in docs/operations.md" {
  for sid in $(jq -r '.Statement[].Sid' "${POLICY}" "${POLICY_RT}" "${BOUNDARY}"); do
    grep -qF "\`${sid}\`" "${ROOT}/docs/operations.md" || { echo "Sid ${sid} not documented"; false; }
  done
}
