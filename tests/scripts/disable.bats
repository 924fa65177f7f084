#!/usr/bin/env bats
# disable_aws_cf_integration.sh against moto, with a recording terraform shim.

load helpers

setup() { common_setup; }

@test "disable: removes exactly what enable made and tags false; a foreign source stays" {
  d1="$(create_distribution)"
  d2="$(create_distribution)"
  foreign="$(create_distribution)"
  aws logs put-delivery-source --name someone-elses-source --log-type ACCESS_LOGS \
    --resource-arn "$(dist_arn "${foreign}")" >/dev/null
  run enable --yes
  assert_success
  [ "$(count_sources)" -eq 3 ]
  # Ours for d1 and d2, and ours from their source for the foreign one.
  [ "$(count_deliveries)" -eq 3 ]

  run disable --yes
  assert_success
  assert_output --partial "delivery source(s) not made by us left alone: someone-elses-source"
  run aws logs describe-delivery-sources --output json
  [ "$(jq -r '[.deliverySources[].name] | join(",")' <<<"${output}")" = "someone-elses-source" ]
  [ "$(count_deliveries)" -eq 0 ]
  [ "$(count_destinations)" -eq 0 ]
  [ "$(tag_value "${d1}")" = "false" ]
  [ "$(tag_value "${d2}")" = "false" ]
  run grep -E "destroy" "${TF_SHIM_LOG}"
  assert_failure
}

@test "disable: a distribution's own logging v2 is kept byte for byte through enable -> disable" {
  d1="$(create_distribution)"
  theirs="$(foreign_v2 "${d1}")"
  before="$(foreign_v2_state)"
  run enable --yes
  assert_success
  run disable --yes
  assert_success
  [ "$(foreign_v2_state)" = "${before}" ]
  [ "$(count_destinations)" -eq 1 ]
  [ "$(tag_value "${d1}")" = "false" ]
}

@test "disable: a distribution's own legacy logging is kept (v2 mode) or restored (--take-over) byte for byte" {
  logging='{"Enabled":true,"IncludeCookies":true,"Bucket":"someone-else.s3.amazonaws.com","Prefix":"their/prefix/"}'
  kept="$(create_distribution "${logging}")"
  taken="$(create_distribution "${logging}")"
  before_kept="$(logging_of "${kept}")"
  before_taken="$(logging_of "${taken}")"
  run enable --yes --distribution "${kept}"
  assert_success
  run enable --yes --legacy --take-over --distribution "${taken}" --skip-terraform
  assert_success
  [ "$(logging_of "${taken}")" != "${before_taken}" ]
  run disable --yes
  assert_success
  assert_output --partial "distribution ${taken}: legacy logging restored to its setting before enable"
  [ "$(logging_of "${kept}")" = "${before_kept}" ]
  [ "$(logging_of "${taken}")" = "${before_taken}" ]
  # Our record tag is gone; only the tag enable set remains, now false.
  [ "$(all_tags "${taken}")" = '[{"Key":"cequence-enabled","Value":"false"}]' ]
}

@test "disable: touches no tag it did not set" {
  never="$(create_distribution)"
  ours="$(create_distribution)"
  aws cloudfront tag-resource --resource "$(dist_arn "${never}")" --tags '{"Items":[{"Key":"Owner","Value":"team-a"}]}'
  aws cloudfront tag-resource --resource "$(dist_arn "${ours}")" --tags '{"Items":[{"Key":"Owner","Value":"team-b"}]}'
  run enable --yes --distribution "${ours}"
  assert_success
  before_never="$(all_tags "${never}")"
  run disable --yes
  assert_success
  [ "$(all_tags "${never}")" = "${before_never}" ]
  [ "$(all_tags "${ours}")" = '[{"Key":"Owner","Value":"team-b"},{"Key":"cequence-enabled","Value":"false"}]' ]
}

@test "disable: all distributions needs --yes or an answer; tf_auto_approve does not answer it" {
  d1="$(create_distribution)"
  run enable --yes
  sed -i 's/^tf_auto_approve=false/tf_auto_approve=true/' "${REPO}/.env"
  run bash -c "'${REPO}/scripts/disable_aws_cf_integration.sh' </dev/null"
  assert_failure
  assert_output --partial "no answer on standard input"
  assert_output --partial "not confirmed; nothing changed"
  [ "$(count_deliveries)" -eq 1 ]
  [ "$(tag_value "${d1}")" = "true" ]
}

@test "disable: a second run changes nothing" {
  create_distribution >/dev/null
  run enable --yes
  run disable --yes
  assert_success
  run disable --yes
  assert_success
  assert_output --partial "No changes"
  refute_output --partial "+ aws"
}

@test "disable --distribution: only that one; the shared destination stays while used" {
  d1="$(create_distribution)"
  d2="$(create_distribution)"
  run enable --yes
  run disable --yes --distribution "${d1}"
  assert_success
  assert_output --partial "kept, still used by 1 delivery"
  [ "$(count_sources)" -eq 1 ]
  [ "$(count_deliveries)" -eq 1 ]
  [ "$(count_destinations)" -eq 1 ]
  [ "$(tag_value "${d1}")" = "false" ]
  [ "$(tag_value "${d2}")" = "true" ]
}

@test "disable: legacy logging is turned off only where it points at our bucket" {
  ours="$(create_distribution)"
  foreign="$(create_distribution '{"Enabled":true,"IncludeCookies":false,"Bucket":"someone-else.s3.amazonaws.com","Prefix":"x/"}')"
  run enable --yes --legacy --distribution "${ours}"
  assert_success
  run disable --yes
  assert_success
  assert_output --partial "legacy logging to someone-else.s3.amazonaws.com is not ours; left alone"
  run aws cloudfront get-distribution-config --id "${ours}" --output json
  [ "$(jq -r .DistributionConfig.Logging.Enabled <<<"${output}")" = "false" ]
  run aws cloudfront get-distribution-config --id "${foreign}" --output json
  [ "$(jq -r .DistributionConfig.Logging.Bucket <<<"${output}")" = "someone-else.s3.amazonaws.com" ]
  [ "$(jq -r .DistributionConfig.Logging.Enabled <<<"${output}")" = "true" ]
  [ "$(tag_value "${ours}")" = "false" ]
}

@test "disable --dry-run: prints the calls and changes nothing" {
  d1="$(create_distribution)"
  run enable --yes
  run disable --yes --dry-run --destroy
  assert_success
  assert_output --partial "[dry-run] would run: aws logs delete-delivery --region us-east-1 --id"
  assert_output --partial "[dry-run] would run: aws logs delete-delivery-source --region us-east-1 --name CequenceCloudFront-${d1}"
  assert_output --partial "[dry-run] would run: aws cloudfront tag-resource"
  assert_output --partial "[dry-run] would run: terraform -chdir=terraform destroy -input=false -auto-approve"
  [ "$(count_sources)" -eq 1 ]
  [ "$(count_deliveries)" -eq 1 ]
  [ "$(count_destinations)" -eq 1 ]
  [ "$(tag_value "${d1}")" = "true" ]
  run grep -x -- "-chdir=terraform destroy.*" "${TF_SHIM_LOG}"
  assert_failure
}

@test "disable --destroy: empties the bucket after confirmation and runs terraform destroy" {
  create_distribution >/dev/null
  run enable --yes
  for i in 1 2 3; do
    printf 'log %s' "$i" | aws s3 cp - "s3://${BUCKET}/cloudfront-logs/X/2024/01/01/0${i}/f${i}.gz" >/dev/null
  done
  printf 'other' | aws s3 cp - "s3://${BUCKET}/other/key" >/dev/null

  # Declined: nothing deleted, no destroy.
  run bash -c "printf 'y\nn\n' | '${REPO}/scripts/disable_aws_cf_integration.sh' --destroy"
  assert_failure
  assert_output --partial "not confirmed"
  [ "$(aws s3api list-objects-v2 --bucket "${BUCKET}" --output json | jq '(.Contents // []) | length')" -eq 4 ]
  run grep -c -- "destroy" "${TF_SHIM_LOG}"
  assert_output "0"

  run bash -c "printf 'y\ny\n' | '${REPO}/scripts/disable_aws_cf_integration.sh' --destroy"
  assert_success
  assert_output --partial "4 object version(s) deleted"
  [ "$(aws s3api list-objects-v2 --bucket "${BUCKET}" --output json | jq '(.Contents // []) | length')" -eq 0 ]
  run grep -x -- "-chdir=terraform destroy" "${TF_SHIM_LOG}"
  assert_success
}

@test "disable --destroy --yes, bucket not created by Terraform (output): only the log prefix is emptied, destroy auto-approved" {
  write_outputs false false
  rm -f "${REPO}/.env"
  printf 'log' | aws s3 cp - "s3://${BUCKET}/cloudfront-logs/a.gz" >/dev/null
  printf 'keep' | aws s3 cp - "s3://${BUCKET}/customer/data" >/dev/null
  run disable --yes --destroy
  assert_success
  run aws s3api list-objects-v2 --bucket "${BUCKET}" --output json
  [ "$(jq -r '[.Contents[].Key] | join(",")' <<<"${output}")" = "customer/data" ]
  run grep -x -- "-chdir=terraform destroy -input=false -auto-approve" "${TF_SHIM_LOG}"
  assert_success
}

@test "disable --destroy with a missing .env and no ownership output refuses before changing anything" {
  d1="$(create_distribution)"
  run enable --yes
  write_outputs false none
  rm -f "${REPO}/.env"
  printf 'keep' | aws s3 cp - "s3://${BUCKET}/customer/data" >/dev/null
  run disable --yes --destroy
  assert_failure
  assert_output --partial "check bucket ownership"
  assert_output --partial "refusing to empty it; nothing changed"
  [ "$(aws s3api list-objects-v2 --bucket "${BUCKET}" --output json | jq '(.Contents // []) | length')" -eq 1 ]
  [ "$(count_deliveries)" -eq 1 ]
  [ "$(tag_value "${d1}")" = "true" ]
  run grep -c -- "destroy" "${TF_SHIM_LOG}"
  assert_output "0"
}

@test "disable --destroy: emptying the bucket needs --yes or an answer even with tf_auto_approve=true" {
  printf 'log' | aws s3 cp - "s3://${BUCKET}/cloudfront-logs/a.gz" >/dev/null
  sed -i 's/^tf_auto_approve=false/tf_auto_approve=true/' "${REPO}/.env"
  run bash -c "'${REPO}/scripts/disable_aws_cf_integration.sh' --destroy </dev/null"
  assert_failure
  assert_output --partial "not confirmed"
  [ "$(aws s3api list-objects-v2 --bucket "${BUCKET}" --output json | jq '(.Contents // []) | length')" -eq 1 ]
  run grep -c -- "destroy" "${TF_SHIM_LOG}"
  assert_output "0"
  # Answered: the bucket is emptied, and tf_auto_approve approves Terraform's destroy.
  run bash -c "printf 'y\n' | '${REPO}/scripts/disable_aws_cf_integration.sh' --destroy"
  assert_success
  [ "$(aws s3api list-objects-v2 --bucket "${BUCKET}" --output json | jq '(.Contents // []) | length')" -eq 0 ]
  run grep -x -- "-chdir=terraform destroy -input=false -auto-approve" "${TF_SHIM_LOG}"
  assert_success
}

@test "disable: --destroy with --distribution is refused; unknown arguments fail" {
  run disable --destroy --distribution ABCDEF123
  assert_failure
  assert_output --partial "can't be limited with --distribution"
  run disable --nope
  assert_failure
  assert_output --partial "unknown argument: --nope"
}

@test "disable (all): also removes our sources whose distribution no longer exists" {
  d1="$(create_distribution)"
  run enable --yes
  assert_success
  aws logs put-delivery-source --name "CequenceCloudFront-GONE0000001" --log-type ACCESS_LOGS \
    --resource-arn "$(dist_arn GONE0000001)" >/dev/null
  run disable --yes
  assert_success
  assert_output --partial "CequenceCloudFront-GONE0000001: its distribution no longer exists"
  [ "$(count_sources)" -eq 0 ]
  [ "$(count_destinations)" -eq 0 ]
}
