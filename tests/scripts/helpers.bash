# Shared setup for tests/scripts/*.bats (loaded with `load helpers`).
# shellcheck shell=bash

ROOT="$(cd "${BATS_TEST_DIRNAME}/../.." && pwd)"
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

ACCOUNT_ID=123456789012
BUCKET=cequence-cf-passive-logs-test1
PREFIX=cloudfront-logs/
DEST_NAME=cequence-cf-passive-logs-test1

# Reset moto, build a throw-away copy of the repo with a recording terraform
# shim first on PATH and the real AWS CLI from .venv.
common_setup() {
  : "${MOTO_PORT:?run the tests through tests/scripts/run.sh}"
  export AWS_ENDPOINT_URL="http://127.0.0.1:${MOTO_PORT}"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  export AWS_DEFAULT_REGION=us-east-1
  unset AWS_PROFILE AWS_SESSION_TOKEN
  export AWS_CONFIG_FILE="${BATS_TEST_TMPDIR}/aws-config"
  export AWS_SHARED_CREDENTIALS_FILE="${BATS_TEST_TMPDIR}/aws-credentials"
  : >"${AWS_CONFIG_FILE}"
  : >"${AWS_SHARED_CREDENTIALS_FILE}"
  "${ROOT}/.venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="POST"), timeout=10)' \
    "${AWS_ENDPOINT_URL}/moto-api/reset"

  REPO="${BATS_TEST_TMPDIR}/repo"
  mkdir -p "${REPO}/terraform" "${REPO}/target/lambda/cf-passive-lambda" "${REPO}/lambda"
  cp -R "${ROOT}/scripts" "${REPO}/scripts"
  cp "${ROOT}/lambda/settings.tsv" "${REPO}/lambda/settings.tsv"
  cp "${ROOT}/.env.example" "${REPO}/.env.example"
  : >"${REPO}/target/lambda/cf-passive-lambda/bootstrap.zip"

  BIN="${BATS_TEST_TMPDIR}/bin"
  mkdir -p "${BIN}"
  ln -s "${ROOT}/.venv/bin/aws" "${BIN}/aws"
  export TF_SHIM_LOG="${BATS_TEST_TMPDIR}/terraform-calls.log"
  export TF_SHIM_OUTPUTS="${BATS_TEST_TMPDIR}/terraform-outputs.json"
  : >"${TF_SHIM_LOG}"
  cat >"${BIN}/terraform" <<'SHIM'
#!/usr/bin/env bash
# Recording terraform shim: logs argv, answers `output -json` with canned JSON.
printf '%s\n' "$*" >>"${TF_SHIM_LOG}"
for a in "$@"; do
  if [[ "${a}" == "output" ]]; then cat "${TF_SHIM_OUTPUTS}"; exit 0; fi
done
exit 0
SHIM
  chmod +x "${BIN}/terraform"
  export PATH="${BIN}:${PATH}"

  write_outputs false
  aws s3api create-bucket --bucket "${BUCKET}" >/dev/null
  write_env
}

# Canned `terraform output -json` for moto's bucket. Arguments: legacy_logging,
# log_bucket_created (default true; "none" leaves the output out, as before
# it existed).
write_outputs() {
  jq -n --arg b "${BUCKET}" --arg p "${PREFIX}" --arg acct "${ACCOUNT_ID}" --argjson legacy "$1" \
    --arg created "${2:-true}" '
    def o($v): {sensitive: false, type: ($v | type), value: $v};
    {
      log_bucket_name: o($b), log_bucket_arn: o("arn:aws:s3:::" + $b), log_prefix: o($p),
      partition: o("aws"),
      lambda_function_name: o("cequence-cf-passive-lambda-abcd"),
      lambda_function_arn: o("arn:aws:lambda:us-east-1:" + $acct + ":function:cequence-cf-passive-lambda-abcd"),
      lambda_log_group_name: o("/aws/lambda/cequence-cf-passive-lambda-abcd"),
      failure_queue_url: o("https://sqs.us-east-1.amazonaws.com/" + $acct + "/cequence-cf-passive-failures-abcd"),
      failure_queue_arn: o("arn:aws:sqs:us-east-1:" + $acct + ":cequence-cf-passive-failures-abcd"),
      aws_region: o("us-east-1"), account_id: o($acct), legacy_logging: o($legacy),
      legacy_logging_bucket_domain: o($b + ".s3.amazonaws.com"),
      delivery_destination_resource_arn: o("arn:aws:s3:::" + $b + "/" + ($p | rtrimstr("/")))
    } + (if $created == "none" then {} else {log_bucket_created: o($created == "true")} end)' >"${TF_SHIM_OUTPUTS}"
}

# A valid .env; extra lines are appended.
write_env() {
  cat >"${REPO}/.env" <<ENV
tf_auto_approve=false
cequence_client_id=client-1
cequence_client_secret=TOPSECRET-value-123
cequence_auth_endpoint=https://auth.example.com/token
cequence_edge_endpoint=https://edge.example.com
cequence_log_level=info
ENV
  local line
  for line in "$@"; do printf '%s\n' "${line}" >>"${REPO}/.env"; done
  chmod 600 "${REPO}/.env"
}

# A tfvars file with the alignment padding before "=" removed.
tfvars_normalized() { sed -E 's/^([a-z_0-9]+) +=/\1 =/' "$1"; }

# Create a distribution in moto; prints its id. Optional arg: Logging JSON.
create_distribution() {
  local logging="${1:-}" ref cfg
  ref="ref-$RANDOM-$RANDOM"
  cfg="${BATS_TEST_TMPDIR}/${ref}.json"
  jq -n --arg ref "${ref}" --argjson logging "${logging:-null}" '
    {CallerReference: $ref, Comment: "test", Enabled: true,
     Origins: {Quantity: 1, Items: [{Id: "o1", DomainName: "origin.example.com",
       CustomOriginConfig: {HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: "https-only"}}]},
     DefaultCacheBehavior: {TargetOriginId: "o1", ViewerProtocolPolicy: "allow-all", MinTTL: 0,
       ForwardedValues: {QueryString: false, Cookies: {Forward: "none"}}}}
    | if $logging then .Logging = $logging else . end' >"${cfg}"
  aws cloudfront create-distribution --distribution-config "file://${cfg}" --output json | jq -r .Distribution.Id
}

dist_arn() { printf 'arn:aws:cloudfront::%s:distribution/%s' "${ACCOUNT_ID}" "$1"; }

# All tags of a distribution, as compact JSON sorted by key.
all_tags() {
  aws cloudfront list-tags-for-resource --resource "$(dist_arn "$1")" --output json | jq -c '(.Tags.Items // []) | sort_by(.Key)'
}

# The distribution's legacy Logging setting, as CloudFront returns it.
logging_of() {
  aws cloudfront get-distribution-config --id "$1" --output json | jq -c .DistributionConfig.Logging
}

# Someone else's complete logging v2 set-up for a distribution: their own
# source, destination and delivery. Destination: cwl (a log group, default)
# or s3 (another bucket). Prints the source name.
foreign_v2() {
  local id="$1" name="theirs-$1" target='{"destinationResourceArn":"arn:aws:logs:us-east-1:123456789012:log-group:theirs"}'
  [[ "${2:-cwl}" == "s3" ]] && target='{"destinationResourceArn":"arn:aws:s3:::someone-else/logs"}'
  aws logs put-delivery-source --name "${name}" --log-type ACCESS_LOGS --resource-arn "$(dist_arn "${id}")" >/dev/null
  aws logs put-delivery-destination --name "their-dest-${id}" --delivery-destination-configuration "${target}" >/dev/null
  aws logs create-delivery --delivery-source-name "${name}" \
    --delivery-destination-arn "arn:aws:logs:us-east-1:${ACCOUNT_ID}:delivery-destination:their-dest-${id}" >/dev/null
  printf '%s' "${name}"
}

# Snapshot of everything logging v2 that is not ours (sources, destinations,
# deliveries), for byte-for-byte comparison.
foreign_v2_state() {
  {
    aws logs describe-delivery-sources --output json | jq -c '[.deliverySources[] | select(.name | startswith("CequenceCloudFront-") | not)] | sort_by(.name)'
    aws logs describe-delivery-destinations --output json | jq -c '[.deliveryDestinations[] | select(.name | startswith("cequence-cf-passive-") | not)] | sort_by(.name)'
    aws logs describe-deliveries --output json | jq -c '[.deliveries[] | select(.deliveryDestinationArn | test(":delivery-destination:cequence-cf-passive-") | not)] | sort_by(.id)'
  }
}

tag_value() {
  aws cloudfront list-tags-for-resource --resource "$(dist_arn "$1")" --output json |
    jq -r '(.Tags.Items // [])[] | select(.Key == "cequence-enabled") | .Value'
}

count_sources() { aws logs describe-delivery-sources --output json | jq '.deliverySources | length'; }
count_destinations() { aws logs describe-delivery-destinations --output json | jq '.deliveryDestinations | length'; }
count_deliveries() { aws logs describe-deliveries --output json | jq '.deliveries | length'; }

enable() { "${REPO}/scripts/enable_aws_cf_integration.sh" "$@"; }
disable() { "${REPO}/scripts/disable_aws_cf_integration.sh" "$@"; }
setup_tfvars() { "${REPO}/scripts/setup-tfvars.sh" "$@"; }
