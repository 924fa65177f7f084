#!/usr/bin/env bats
# enable_aws_cf_integration.sh against moto, with a recording terraform shim.

load helpers

setup() { common_setup; }

@test "enable v2: creates sources, one destination, deliveries and tags for every distribution" {
  d1="$(create_distribution)"
  d2="$(create_distribution)"
  run enable --yes
  assert_success
  assert_output --partial "Done:"
  [ "$(count_sources)" -eq 2 ]
  [ "$(count_destinations)" -eq 1 ]
  [ "$(count_deliveries)" -eq 2 ]
  for d in "${d1}" "${d2}"; do
    run aws logs describe-delivery-sources --output json
    assert_output --partial "\"CequenceCloudFront-${d}\""
    [ "$(tag_value "${d}")" = "true" ]
  done
  run aws logs describe-delivery-destinations --output json
  [ "$(jq -r '.deliveryDestinations[0].name' <<<"${output}")" = "${DEST_NAME}" ]
  [ "$(jq -r '.deliveryDestinations[0].outputFormat' <<<"${output}")" = "w3c" ]
  [ "$(jq -r '.deliveryDestinations[0].deliveryDestinationConfiguration.destinationResourceArn' <<<"${output}")" = "arn:aws:s3:::${BUCKET}/cloudfront-logs" ]
  run aws logs describe-deliveries --output json
  [ "$(jq -r '[.deliveries[].s3DeliveryConfiguration.suffixPath] | unique | .[]' <<<"${output}")" = '{DistributionId}/{yyyy}/{MM}/{dd}/{HH}' ]
  jq -e '.deliveries[0].recordFields | index("timestamp(ms)") and index("cs(Cookie)") and index("c-ip") and index("asn")' <<<"${output}"
}

@test "enable: a second run changes nothing and says so" {
  d1="$(create_distribution)"
  run enable --yes
  assert_success
  run enable --yes
  assert_success
  assert_output --partial "No changes"
  refute_output --partial "ERROR"
  refute_output --partial "+ aws"
  [ "$(count_sources)" -eq 1 ]
  [ "$(count_destinations)" -eq 1 ]
  [ "$(count_deliveries)" -eq 1 ]
  [ "$(tag_value "${d1}")" = "true" ]
}

@test "enable: terraform init and apply -auto-approve with --yes, tfvars regenerated" {
  create_distribution >/dev/null
  run enable --yes
  assert_success
  run cat "${TF_SHIM_LOG}"
  assert_line --index 0 "-chdir=terraform init -input=false"
  assert_line --index 1 "-chdir=terraform apply -input=false -auto-approve"
  assert_line --index 2 "-chdir=terraform output -json"
  [ -f "${REPO}/terraform/terraform.tfvars" ]
  [ "$(stat -c %a "${REPO}/terraform/terraform.tfvars")" = "600" ]
}

@test "enable: tf_auto_approve=true auto-approves; without it apply is interactive and a prompt is answered" {
  d1="$(create_distribution)"
  write_env "cequence_compression=gzip"
  sed -i 's/^tf_auto_approve=false/tf_auto_approve=true/' "${REPO}/.env"
  run enable
  assert_success
  run grep -c -- "apply -input=false -auto-approve" "${TF_SHIM_LOG}"
  assert_output "1"

  : >"${TF_SHIM_LOG}"
  write_env
  run bash -c "echo y | '${REPO}/scripts/enable_aws_cf_integration.sh'"
  assert_success
  assert_output --partial "${d1}"
  run grep -x -- "-chdir=terraform apply" "${TF_SHIM_LOG}"
  assert_success
  refute_output --partial "auto-approve"
}

@test "enable: declining the distribution prompt changes nothing in CloudFront" {
  d1="$(create_distribution)"
  run bash -c "echo n | '${REPO}/scripts/enable_aws_cf_integration.sh'"
  assert_failure
  assert_output --partial "not confirmed"
  [ "$(count_sources)" -eq 0 ]
  [ -z "$(tag_value "${d1}")" ]
}

@test "enable: changing cequence_log_level regenerates tfvars and re-applies" {
  create_distribution >/dev/null
  run enable --yes
  assert_success
  grep -q 'cequence_log_level = "info"' "${REPO}/terraform/terraform.tfvars"
  sed -i 's/^cequence_log_level=info/cequence_log_level=debug/' "${REPO}/.env"
  : >"${TF_SHIM_LOG}"
  run enable --yes
  assert_success
  assert_output --partial "changed: cequence_log_level"
  refute_output --partial "TOPSECRET"
  grep -q 'cequence_log_level = "debug"' "${REPO}/terraform/terraform.tfvars"
  grep -q -- "apply -input=false -auto-approve" "${TF_SHIM_LOG}"
}

@test "enable --dry-run: prints the calls and changes nothing" {
  d1="$(create_distribution)"
  run enable --yes --dry-run
  assert_success
  assert_output --partial "[dry-run] would run: terraform -chdir=terraform init -input=false"
  assert_output --partial "[dry-run] would run: terraform -chdir=terraform apply -input=false -auto-approve"
  assert_output --partial "[dry-run] would run: aws logs put-delivery-destination"
  assert_output --partial "[dry-run] would run: aws logs put-delivery-source --region us-east-1 --name CequenceCloudFront-${d1}"
  assert_output --partial "[dry-run] would run: aws logs create-delivery"
  assert_output --partial "[dry-run] would run: aws cloudfront tag-resource"
  assert_output --partial "nothing was changed"
  [ "$(count_sources)" -eq 0 ]
  [ "$(count_destinations)" -eq 0 ]
  [ "$(count_deliveries)" -eq 0 ]
  [ -z "$(tag_value "${d1}")" ]
  [ ! -e "${REPO}/terraform/terraform.tfvars" ]
  run grep -E "init|apply" "${TF_SHIM_LOG}"
  assert_failure
}

@test "enable: a distribution with legacy logging to another bucket is reported and left alone" {
  foreign="$(create_distribution '{"Enabled":true,"IncludeCookies":false,"Bucket":"someone-else.s3.amazonaws.com","Prefix":"x/"}')"
  ours="$(create_distribution)"
  run enable --yes
  assert_success
  assert_output --partial "distribution ${foreign}: legacy logging already goes to someone-else.s3.amazonaws.com"
  assert_output --partial "left untouched"
  [ "$(count_sources)" -eq 1 ]
  [ -z "$(tag_value "${foreign}")" ]
  [ "$(tag_value "${ours}")" = "true" ]
  run aws cloudfront get-distribution-config --id "${foreign}" --output json
  [ "$(jq -r .DistributionConfig.Logging.Bucket <<<"${output}")" = "someone-else.s3.amazonaws.com" ]
}

@test "enable: a distribution with another delivery source is reported and left alone; --replace takes it over" {
  d1="$(create_distribution)"
  aws logs put-delivery-source --name someone-elses-source --log-type ACCESS_LOGS \
    --resource-arn "$(dist_arn "${d1}")" >/dev/null
  run enable --yes
  assert_success
  assert_output --partial "distribution ${d1}: already has a logging v2 delivery source not made by us (someone-elses-source)"
  [ "$(count_sources)" -eq 1 ]
  [ "$(count_deliveries)" -eq 0 ]
  [ -z "$(tag_value "${d1}")" ]

  run enable --yes --replace
  assert_success
  run aws logs describe-delivery-sources --output json
  [ "$(jq -r '[.deliverySources[].name] | join(",")' <<<"${output}")" = "CequenceCloudFront-${d1}" ]
  [ "$(count_deliveries)" -eq 1 ]
  [ "$(tag_value "${d1}")" = "true" ]
}

@test "enable --distribution: only the chosen distribution; --output-format json" {
  d1="$(create_distribution)"
  d2="$(create_distribution)"
  run enable --yes --distribution "${d2}" --output-format json --skip-terraform
  assert_success
  [ "$(count_sources)" -eq 1 ]
  [ -z "$(tag_value "${d1}")" ]
  [ "$(tag_value "${d2}")" = "true" ]
  run aws logs describe-delivery-destinations --output json
  [ "$(jq -r '.deliveryDestinations[0].outputFormat' <<<"${output}")" = "json" ]
  run grep -E "init|apply" "${TF_SHIM_LOG}"
  assert_failure
}

@test "enable: an existing destination with another format is an error naming the fix" {
  d1="$(create_distribution)"
  run enable --yes
  assert_success
  run enable --yes --output-format json
  assert_failure
  assert_output --partial "output format w3c"
  assert_output --partial "--replace"
  run enable --yes --output-format json --replace
  assert_success
  run aws logs describe-delivery-destinations --output json
  [ "$(jq -r '.deliveryDestinations[0].outputFormat' <<<"${output}")" = "json" ]
  [ "$(count_deliveries)" -eq 1 ]
}

@test "enable --legacy: sets Logging on the distribution and the tag; re-run is unchanged" {
  d1="$(create_distribution)"
  run enable --yes --legacy
  assert_success
  run aws cloudfront get-distribution-config --id "${d1}" --output json
  [ "$(jq -c .DistributionConfig.Logging <<<"${output}")" = "{\"Enabled\":true,\"IncludeCookies\":true,\"Bucket\":\"${BUCKET}.s3.amazonaws.com\",\"Prefix\":\"${PREFIX}\"}" ]
  [ "$(tag_value "${d1}")" = "true" ]
  [ "$(count_sources)" -eq 0 ]
  run enable --yes --legacy
  assert_success
  assert_output --partial "legacy logging unchanged"
  assert_output --partial "No changes"
  refute_output --partial "update-distribution"
}

@test "enable: legacy_logging=true in terraform outputs selects the legacy path" {
  d1="$(create_distribution)"
  write_outputs true
  run enable --yes --skip-terraform
  assert_success
  run aws cloudfront get-distribution-config --id "${d1}" --output json
  [ "$(jq -r .DistributionConfig.Logging.Enabled <<<"${output}")" = "true" ]
}

@test "enable: bad arguments and a bad .env fail before any change" {
  d1="$(create_distribution)"
  run enable --bogus
  assert_failure
  assert_output --partial "unknown argument: --bogus"
  run enable --distribution 'bad id'
  assert_failure
  write_env "cequence_edge_endpoint2=x"
  run enable --yes
  assert_failure
  assert_output --partial "unknown key cequence_edge_endpoint2"
  [ ! -s "${TF_SHIM_LOG}" ]
  [ -z "$(tag_value "${d1}")" ]
}

@test "enable: no distributions is not an error" {
  run enable --yes
  assert_success
  assert_output --partial "No CloudFront distributions found"
}

@test "enable --dry-run before the first apply: placeholders, no changes, no error" {
  d1="$(create_distribution)"
  echo '{}' >"${TF_SHIM_OUTPUTS}"
  run enable --yes --dry-run
  assert_success
  assert_output --partial "no terraform outputs yet"
  assert_output --partial "[dry-run] would run: aws logs put-delivery-source --region us-east-1 --name CequenceCloudFront-${d1}"
  [ "$(count_sources)" -eq 0 ]
  [ -z "$(tag_value "${d1}")" ]
}

@test "enable: without terraform outputs (not applied) it stops with the fix" {
  create_distribution >/dev/null
  echo '{}' >"${TF_SHIM_OUTPUTS}"
  run enable --yes --skip-terraform
  assert_failure
  assert_output --partial "read terraform outputs"
  assert_output --partial "fix:"
  [ "$(count_sources)" -eq 0 ]
}

@test "enable: a missing distribution id is an error naming the step" {
  run enable --yes --skip-terraform --distribution NOSUCHDIST1
  assert_failure
  assert_output --partial "get distribution NOSUCHDIST1"
}

@test "enable: switching between legacy and v2 removes our other logging (no double delivery)" {
  d1="$(create_distribution)"
  run enable --yes
  assert_success
  [ "$(count_sources)" -eq 1 ]
  run enable --yes --legacy
  assert_success
  assert_output --partial "switching from logging v2 to legacy logging"
  [ "$(count_sources)" -eq 0 ]
  [ "$(count_deliveries)" -eq 0 ]
  run aws cloudfront get-distribution-config --id "${d1}" --output json
  [ "$(jq -r .DistributionConfig.Logging.Enabled <<<"${output}")" = "true" ]
  run enable --yes
  assert_success
  assert_output --partial "switching from legacy logging to logging v2"
  run aws cloudfront get-distribution-config --id "${d1}" --output json
  [ "$(jq -r .DistributionConfig.Logging.Enabled <<<"${output}")" = "false" ]
  [ "$(count_sources)" -eq 1 ]
  [ "$(count_deliveries)" -eq 1 ]
  [ "$(tag_value "${d1}")" = "true" ]
}
