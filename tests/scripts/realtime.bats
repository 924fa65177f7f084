#!/usr/bin/env bats
# enable_aws_cf_integration.sh --realtime and the real-time part of
# disable_aws_cf_integration.sh, against moto. moto does not serve
# CreateRealtimeLogConfig, but it keeps RealtimeLogConfigArn on the default
# and the other cache behaviors through update-distribution, which is all
# the scripts touch; the configuration ARNs here are made up, of the real shape.

load helpers

OURS="arn:aws:cloudfront::${ACCOUNT_ID}:realtime-log-config/cequence-cf-passive-realtime-abcd"
THEIRS="arn:aws:cloudfront::${ACCOUNT_ID}:realtime-log-config/their-waf-automation"

setup() {
  common_setup
  with_realtime_output "${OURS}"
}

# Add Terraform's real-time outputs: the configuration ARN (empty: null, as
# with realtime_logs off) and the sampling rate (default 100).
with_realtime_output() {
  local value="${1:-}" rate="${2:-100}" tmp="${BATS_TEST_TMPDIR}/outputs.tmp"
  jq --arg a "${value}" --argjson r "${rate}" '
    .realtime_log_config_arn = {sensitive: false, type: "string", value: (if $a == "" then null else $a end)}
    | .realtime_sampling_rate = {sensitive: false, type: "number", value: (if $a == "" then null else $r end)}' \
    "${TF_SHIM_OUTPUTS}" >"${tmp}"
  mv "${tmp}" "${TF_SHIM_OUTPUTS}"
}

# A distribution with a default behavior and one cache behavior per argument
# "PATTERN[=ARN]" (ARN: that behavior's own real-time configuration); an
# argument "default=ARN" sets the default behavior's. Prints the id.
create_distribution_with_behaviors() {
  local ref cfg items='[]' default_arn="" spec pattern arn
  ref="ref-$RANDOM-$RANDOM"
  cfg="${BATS_TEST_TMPDIR}/${ref}.json"
  for spec in "$@"; do
    pattern="${spec%%=*}"
    arn=""
    [[ "${spec}" == *=* ]] && arn="${spec#*=}"
    if [[ "${pattern}" == "default" ]]; then
      default_arn="${arn}"
      continue
    fi
    items="$(jq -c --arg p "${pattern}" --arg a "${arn}" '. + [{PathPattern: $p, TargetOriginId: "o1",
      ViewerProtocolPolicy: "allow-all", MinTTL: 0, ForwardedValues: {QueryString: false, Cookies: {Forward: "none"}}}
      + (if $a == "" then {} else {RealtimeLogConfigArn: $a} end)]' <<<"${items}")"
  done
  jq -n --arg ref "${ref}" --argjson items "${items}" --arg d "${default_arn}" '
    {CallerReference: $ref, Comment: "test", Enabled: true,
     Origins: {Quantity: 1, Items: [{Id: "o1", DomainName: "origin.example.com",
       CustomOriginConfig: {HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: "https-only"}}]},
     DefaultCacheBehavior: ({TargetOriginId: "o1", ViewerProtocolPolicy: "allow-all", MinTTL: 0,
       ForwardedValues: {QueryString: false, Cookies: {Forward: "none"}}}
       + (if $d == "" then {} else {RealtimeLogConfigArn: $d} end))}
    | if ($items | length) > 0 then .CacheBehaviors = {Quantity: ($items | length), Items: $items} else . end' >"${cfg}"
  aws cloudfront create-distribution --distribution-config "file://${cfg}" --output json | jq -r .Distribution.Id
}

# "pattern=arn" per behavior ("(default)" first; "" = none), one per line.
realtime_of() {
  aws cloudfront get-distribution-config --id "$1" --output json | jq -r '.DistributionConfig
    | "(default)=\(.DefaultCacheBehavior.RealtimeLogConfigArn // "")",
      ((.CacheBehaviors.Items // [])[] | "\(.PathPattern)=\(.RealtimeLogConfigArn // "")")'
}

# The distribution config without the real-time configuration ARNs.
config_without_realtime() {
  aws cloudfront get-distribution-config --id "$1" --output json |
    jq -S -c '.DistributionConfig | del(.DefaultCacheBehavior.RealtimeLogConfigArn)
      | if .CacheBehaviors.Items then .CacheBehaviors.Items |= map(del(.RealtimeLogConfigArn)) else . end'
}

@test "enable --realtime: attaches our configuration to the default and every cache behavior; no standard logging" {
  d1="$(create_distribution_with_behaviors "/api/*" "/img/*" "/static/*.css")"
  d2="$(create_distribution)"
  run enable --yes --realtime
  assert_success
  assert_output --partial "real-time log configuration cequence-cf-passive-realtime-abcd attached to: (default) /api/* /img/* /static/*.css"
  assert_output --partial "Done:"
  refute_output --partial "samples"
  run realtime_of "${d1}"
  assert_output "$(printf '%s\n' "(default)=${OURS}" "/api/*=${OURS}" "/img/*=${OURS}" "/static/*.css=${OURS}")"
  run realtime_of "${d2}"
  assert_output "(default)=${OURS}"
  [ "$(tag_value "${d1}")" = "true" ]
  [ "$(tag_value "${d2}")" = "true" ]
  # Real-time logs replace standard logging: nothing of logging v2 is made.
  [ "$(count_sources)" -eq 0 ]
  [ "$(count_destinations)" -eq 0 ]
  [ "$(count_deliveries)" -eq 0 ]
  # Only the real-time configuration changed (the tag aside).
  [ "$(all_tags "${d1}" | jq -c 'map(.Key)')" = '["cequence-enabled"]' ]
  # A sampled configuration forwards only part of the requests: said so.
  with_realtime_output "${OURS}" 25
  run enable --yes --realtime
  assert_success
  assert_output --partial "samples 25% of requests"
}

@test "enable --realtime: a second run changes nothing and says so" {
  d1="$(create_distribution_with_behaviors "/api/*" "/img/*")"
  run enable --yes --realtime
  assert_success
  before="$(realtime_of "${d1}")"
  run enable --yes --realtime
  assert_success
  assert_output --partial "real-time log configuration cequence-cf-passive-realtime-abcd unchanged (3 of 3 cache behavior(s))"
  assert_output --partial "No changes"
  refute_output --partial "+ aws"
  [ "$(realtime_of "${d1}")" = "${before}" ]
}

@test "enable --realtime: a behavior with the customer's own configuration is left alone and reported; our standard logging stays" {
  d1="$(create_distribution_with_behaviors "/api/*=${THEIRS}" "/img/*")"
  run enable --yes
  assert_success
  [ "$(count_deliveries)" -eq 1 ]
  run enable --yes --realtime
  assert_success
  assert_output --partial "cache behavior(s) with their own real-time log configuration left alone: /api/* (their-waf-automation)"
  assert_output --partial "--take-over"
  assert_output --partial "our standard logging (if any) is kept"
  run realtime_of "${d1}"
  assert_output "$(printf '%s\n' "(default)=${OURS}" "/api/*=${THEIRS}" "/img/*=${OURS}")"
  # Not every request reaches our stream, so our standard logging is kept.
  [ "$(count_sources)" -eq 1 ]
  [ "$(count_deliveries)" -eq 1 ]
  # Only their configuration everywhere: nothing attached, reported, not tagged.
  d2="$(create_distribution_with_behaviors "default=${THEIRS}")"
  run enable --yes --realtime --distribution "${d2}"
  assert_success
  assert_output --partial "left alone: (default) (their-waf-automation)"
  assert_output --partial "cache behaviors with their own real-time configuration left alone (see the warnings above) in: ${d2}"
  [ "$(realtime_of "${d2}")" = "(default)=${THEIRS}" ]
  [ -z "$(tag_value "${d2}")" ]
}

@test "disable: detaches only our configuration, leaves the customer's, restores the config exactly; a second run changes nothing" {
  d1="$(create_distribution_with_behaviors "/api/*=${THEIRS}" "/img/*" "/v2/*")"
  original="$(config_without_realtime "${d1}")"
  run enable --yes --realtime
  assert_success
  run disable --yes
  assert_success
  assert_output --partial "real-time log configuration cequence-cf-passive-realtime-abcd detached from: (default) /img/* /v2/*"
  assert_output --partial "not made by us left alone: /api/* (their-waf-automation)"
  run realtime_of "${d1}"
  assert_output "$(printf '%s\n' "(default)=" "/api/*=${THEIRS}" "/img/*=" "/v2/*=")"
  [ "$(config_without_realtime "${d1}")" = "${original}" ]
  [ "$(tag_value "${d1}")" = "false" ]
  run disable --yes
  assert_success
  assert_output --partial "No changes"
  refute_output --partial "+ aws"
}

@test "enable/disable --realtime --dry-run: print the ETag-guarded update and change nothing" {
  d1="$(create_distribution_with_behaviors "/api/*" "/img/*=${THEIRS}")"
  etag="$(aws cloudfront get-distribution-config --id "${d1}" --output json | jq -r .ETag)"
  before="$(realtime_of "${d1}")"
  run enable --yes --realtime --dry-run
  assert_success
  assert_output --partial "[dry-run] would run: aws cloudfront update-distribution --id ${d1} --if-match ${etag} --distribution-config file://"
  assert_output --partial "Dry run: "
  assert_output --partial "nothing was changed"
  [ "$(realtime_of "${d1}")" = "${before}" ]
  [ -z "$(tag_value "${d1}")" ]
  run enable --yes --realtime
  assert_success
  after="$(realtime_of "${d1}")"
  run disable --yes --dry-run
  assert_success
  assert_output --partial "[dry-run] would run: aws cloudfront update-distribution --id ${d1} --if-match ${etag}"
  [ "$(realtime_of "${d1}")" = "${after}" ]
  [ "$(tag_value "${d1}")" = "true" ]
}

@test "enable --realtime --take-over: the customer's configuration is recorded, replaced, and put back by disable" {
  d1="$(create_distribution_with_behaviors "default=${THEIRS}" "/api/*=${THEIRS}" "/img/*")"
  original="$(aws cloudfront get-distribution-config --id "${d1}" --output json | jq -S -c .DistributionConfig)"
  run enable --yes --realtime --take-over
  assert_success
  assert_output --partial "recorded in tag cequence-original-realtime"
  assert_output --partial "attached to: (default) /api/* /img/*"
  run realtime_of "${d1}"
  assert_output "$(printf '%s\n' "(default)=${OURS}" "/api/*=${OURS}" "/img/*=${OURS}")"
  record="$(all_tags "${d1}" | jq -r '.[] | select(.Key == "cequence-original-realtime") | .Value' | base64 -d)"
  [ "$(jq -S -c . <<<"${record}")" = '{"their-waf-automation":["","/api/*"]}' ]
  # Re-running keeps the record and changes nothing.
  run enable --yes --realtime --take-over
  assert_success
  assert_output --partial "No changes"
  run disable --yes
  assert_success
  assert_output --partial "put back as before enable: (default) (their-waf-automation) /api/* (their-waf-automation)"
  assert_output --partial "detached from: /img/*"
  [ "$(aws cloudfront get-distribution-config --id "${d1}" --output json | jq -S -c .DistributionConfig)" = "${original}" ]
  [ "$(all_tags "${d1}" | jq -c 'map(.Key)')" = '["cequence-enabled"]' ]
}

@test "enable: switching between standard logging and --realtime removes the other path (nothing forwarded twice)" {
  d1="$(create_distribution_with_behaviors "/api/*")"
  run enable --yes
  assert_success
  [ "$(count_deliveries)" -eq 1 ]
  run enable --yes --realtime
  assert_success
  assert_output --partial "attached to: (default) /api/*"
  assert_output --partial "delivery source CequenceCloudFront-${d1} deleted"
  [ "$(count_sources)" -eq 0 ]
  [ "$(count_deliveries)" -eq 0 ]
  # Back to standard logging: v2 first, then our real-time configuration is detached.
  run enable --yes
  assert_success
  assert_output --partial "detached from: (default) /api/*"
  [ "$(count_deliveries)" -eq 1 ]
  run realtime_of "${d1}"
  assert_output "$(printf '%s\n' "(default)=" "/api/*=")"
  # Legacy logging of ours is replaced as well.
  write_outputs true
  with_realtime_output "${OURS}"
  run enable --yes
  assert_success
  [ "$(logging_of "${d1}" | jq -r .Bucket)" = "${BUCKET}.s3.amazonaws.com" ]
  run enable --yes --realtime
  assert_success
  [ "$(logging_of "${d1}" | jq -r .Enabled)" = "false" ]
  [ "$(tag_value "${d1}")" = "true" ]
}

@test "enable --realtime: without a real-time configuration it stops with the fix; --realtime-config-arn names one; a bad ARN is refused" {
  d1="$(create_distribution_with_behaviors "/api/*")"
  with_realtime_output ""
  run enable --yes --realtime
  assert_failure
  assert_output --partial "realtime_log_config_arn is empty"
  assert_output --partial "realtime_logs = true"
  run realtime_of "${d1}"
  assert_output "$(printf '%s\n' "(default)=" "/api/*=")"
  [ -z "$(tag_value "${d1}")" ]
  run enable --yes --realtime --legacy
  assert_failure
  assert_output --partial "exclude each other"
  run enable --yes --realtime-config-arn "arn:aws:s3:::not-a-config"
  assert_failure
  assert_output --partial "--realtime-config-arn needs a real-time log configuration ARN"
  run enable --yes --realtime-config-arn "${OURS}"
  assert_success
  [ "$(realtime_of "${d1}" | sort -u)" = "$(printf '%s\n' "(default)=${OURS}" "/api/*=${OURS}")" ]
  # disable, with the output gone, detaches what --realtime-config-arn names.
  run disable --yes
  assert_success
  assert_output --partial "looks like this project's"
  assert_output --partial "re-run with --realtime-config-arn ${OURS} to detach it"
  [ "$(realtime_of "${d1}" | grep -c "${OURS}")" -eq 2 ]
  run disable --yes --realtime-config-arn "${OURS}"
  assert_success
  run realtime_of "${d1}"
  assert_output "$(printf '%s\n' "(default)=" "/api/*=")"
}

@test "enable --realtime: a distribution changed meanwhile (ETag mismatch) fails cleanly and overwrites nothing" {
  d1="$(create_distribution_with_behaviors "/api/*")"
  d2="$(create_distribution_with_behaviors "/img/*")"
  # moto does not check If-Match: stand in for CloudFront's answer to a stale
  # ETag on every update-distribution, and pass everything else to the real CLI.
  rm "${BIN}/aws"
  cat >"${BIN}/aws" <<SHIM
#!/usr/bin/env bash
if [[ "\$1 \$2" == "cloudfront update-distribution" ]]; then
  echo "An error occurred (PreconditionFailed) when calling the UpdateDistribution operation: The request failed because it didn't meet the preconditions in one or more request-header fields." >&2
  exit 254
fi
exec "${ROOT}/.venv/bin/aws" "\$@"
SHIM
  chmod +x "${BIN}/aws"
  run enable --yes --realtime --distribution "${d1}" --distribution "${d2}"
  assert_failure
  assert_output --partial "PreconditionFailed"
  assert_output --partial "update distribution ${d1}: aws cloudfront update-distribution failed; nothing was overwritten"
  assert_output --partial "re-run"
  # Stopped at the first distribution: nothing attached, nothing tagged.
  run realtime_of "${d1}"
  assert_output "$(printf '%s\n' "(default)=" "/api/*=")"
  [ -z "$(tag_value "${d1}")" ]
  [ -z "$(tag_value "${d2}")" ]
}
