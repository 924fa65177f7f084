#!/usr/bin/env bash
# CloudFront / CloudWatch Logs delivery helpers shared by the enable and
# disable scripts. Sourced after scripts/lib/common.sh.
# All AWS calls go through aws_ro / aws_rw (see common.sh) so --dry-run works
# and tests/scripts/policy.bats can find every call.

# Fields requested from CloudFront standard logging v2 (names as AWS spells
# them; the Lambda maps columns by name, so the order is not significant).
# shellcheck disable=SC2034  # used by the enable script
readonly -a CF_RECORD_FIELDS=(
  date time "timestamp(ms)" c-ip c-port cs-method "cs(Host)" x-host-header
  cs-uri-stem cs-uri-query sc-status "cs(Referer)" "cs(User-Agent)" "cs(Cookie)"
  x-forwarded-for x-edge-request-id x-edge-location x-edge-result-type
  x-edge-response-result-type x-edge-detailed-result-type cs-protocol
  cs-protocol-version cs-bytes sc-bytes time-taken time-to-first-byte
  ssl-protocol ssl-cipher sc-content-type sc-content-len sc-range-start
  sc-range-end c-country asn
)
# shellcheck disable=SC2034
readonly CF_SUFFIX_PATH='{DistributionId}/{yyyy}/{MM}/{dd}/{HH}'
# Tag holding a distribution's legacy Logging setting from before
# `enable --legacy` replaced it (base64 of its JSON); disable restores it
# exactly and removes the tag. Tag values allow base64's characters.
readonly CF_ORIGINAL_LOGGING_TAG="cequence-original-logging"

# Cached describe-* results (JSON arrays), refreshed by cf_refresh_logs_state.
CF_SOURCES_JSON='[]'
CF_DESTINATIONS_JSON='[]'
CF_DELIVERIES_JSON='[]'
CF_DIST_CONFIG='{}'
CF_LIST_JSON='{}'
CF_TAG_RESULT=''
CF_TAGS_JSON='[]'
CHANGES=0

# Count one change made (or, under --dry-run, that would be made).
changed() { CHANGES=$((CHANGES + 1)); }

#######################################
# Load all delivery sources, destinations and deliveries (us-east-1).
#######################################
cf_refresh_logs_state() {
  local out
  out="$(aws_ro logs describe-delivery-sources --region "${CF_LOGS_REGION}")" ||
    die "describe delivery sources" "aws logs describe-delivery-sources failed" \
      "check credentials and logs:DescribeDeliverySources in the deployer policy"
  CF_SOURCES_JSON="$(jq -c '.deliverySources // []' <<<"${out:-"{}"}")"
  out="$(aws_ro logs describe-delivery-destinations --region "${CF_LOGS_REGION}")" ||
    die "describe delivery destinations" "aws logs describe-delivery-destinations failed" \
      "check credentials and logs:DescribeDeliveryDestinations in the deployer policy"
  CF_DESTINATIONS_JSON="$(jq -c '.deliveryDestinations // []' <<<"${out:-"{}"}")"
  out="$(aws_ro logs describe-deliveries --region "${CF_LOGS_REGION}")" ||
    die "describe deliveries" "aws logs describe-deliveries failed" \
      "check credentials and logs:DescribeDeliveries in the deployer policy"
  CF_DELIVERIES_JSON="$(jq -c '.deliveries // []' <<<"${out:-"{}"}")"
}

#######################################
# Load list-distributions into CF_LIST_JSON (all distributions, one page of
# up to 1000 per call; the CLI follows the pagination).
#######################################
cf_load_distributions() {
  CF_LIST_JSON="$(aws_ro cloudfront list-distributions)" ||
    die "list distributions" "aws cloudfront list-distributions failed" \
      "check credentials and cloudfront:ListDistributions in the deployer policy"
  [[ -n "${CF_LIST_JSON}" ]] || CF_LIST_JSON='{}'
}

#######################################
# Distribution ids from CF_LIST_JSON, one per line.
#######################################
cf_distribution_ids() {
  jq -r '.DistributionList.Items // [] | .[].Id' <<<"${CF_LIST_JSON}"
}

#######################################
# Print "id  domain  comment" for the given distributions (from CF_LIST_JSON).
#######################################
cf_describe_distributions() {
  jq -r --args '.DistributionList.Items // [] | .[] | select(.Id as $i | $ARGS.positional | index($i))
    | "  \(.Id)  \(.DomainName)  \(.Comment // "")"' "$@" <<<"${CF_LIST_JSON}"
}

#######################################
# get-distribution-config for ID into CF_DIST_CONFIG (JSON with ETag).
#######################################
cf_get_distribution_config() {
  local id="$1"
  CF_DIST_CONFIG="$(aws_ro cloudfront get-distribution-config --id "${id}")" ||
    die "get distribution ${id}" "aws cloudfront get-distribution-config failed" \
      "check that distribution ${id} exists (aws cloudfront list-distributions) and cloudfront:GetDistributionConfig is allowed"
}

#######################################
# Read the tags of a distribution ARN into CF_TAGS_JSON (a JSON array).
#######################################
cf_read_tags() {
  local arn="$1" out
  out="$(aws_ro cloudfront list-tags-for-resource --resource "${arn}")" ||
    die "read tags of ${arn}" "aws cloudfront list-tags-for-resource failed" \
      "check cloudfront:ListTagsForResource in the deployer policy"
  CF_TAGS_JSON="$(jq -c '.Tags.Items // []' <<<"${out:-"{}"}")"
}

# Value of tag KEY in CF_TAGS_JSON (empty when absent); cf_has_tag KEY.
cf_tag_value() { jq -r --arg k "$1" '.[] | select(.Key == $k) | .Value' <<<"${CF_TAGS_JSON}"; }
cf_has_tag() { jq -e --arg k "$1" 'any(.[]; .Key == $k)' <<<"${CF_TAGS_JSON}" >/dev/null; }

#######################################
# Set tag KEY=VALUE on a distribution ARN.
#######################################
cf_tag() {
  local arn="$1" key="$2" value="$3"
  aws_rw cloudfront tag-resource --resource "${arn}" \
    --tags "$(jq -cn --arg k "${key}" --arg v "${value}" '{Items: [{Key: $k, Value: $v}]}')" ||
    die "tag ${arn}" "aws cloudfront tag-resource failed" \
      "check cloudfront:TagResource in the deployer policy"
}

#######################################
# Remove tag KEY from a distribution ARN.
#######################################
cf_untag() {
  local arn="$1" key="$2"
  aws_rw cloudfront untag-resource --resource "${arn}" \
    --tag-keys "$(jq -cn --arg k "${key}" '{Items: [$k]}')" ||
    die "untag ${arn}" "aws cloudfront untag-resource failed" \
      "check cloudfront:UntagResource in the deployer policy"
}

#######################################
# Set the cequence-enabled tag on a distribution ARN to VALUE (true|false),
# unless it already has that value. With a third argument "existing", only
# a tag that is already there is changed (disable never adds one). Sets
# CF_TAG_RESULT to tagged|unchanged|absent.
#######################################
cf_set_enabled_tag() {
  local arn="$1" value="$2" only="${3:-}" current
  cf_read_tags "${arn}"
  if [[ "${only}" == "existing" ]] && ! cf_has_tag "${CF_TAG_KEY}"; then
    CF_TAG_RESULT=absent
    return 0
  fi
  current="$(cf_tag_value "${CF_TAG_KEY}")"
  if [[ "${current}" == "${value}" ]]; then
    CF_TAG_RESULT=unchanged
    return 0
  fi
  cf_tag "${arn}" "${CF_TAG_KEY}" "${value}"
  CF_TAG_RESULT=tagged
}

#######################################
# Replace the distribution's legacy Logging with LOGGING_JSON, guarded by the
# ETag of CF_DIST_CONFIG (read just before). Arguments: id, logging JSON, the
# fix to suggest if CloudFront refuses.
#######################################
cf_put_logging() {
  local id="$1" logging="$2" fix="$3" tmp="${WORKDIR}/dist-$1.json"
  jq --argjson l "${logging}" '.DistributionConfig | .Logging = $l' <<<"${CF_DIST_CONFIG}" >"${tmp}"
  aws_rw cloudfront update-distribution --id "${id}" \
    --if-match "$(jq -r .ETag <<<"${CF_DIST_CONFIG}")" \
    --distribution-config "file://${tmp}" ||
    die "update distribution ${id}" "aws cloudfront update-distribution failed" \
      "if the ETag changed meanwhile, re-run; ${fix}"
  changed
}

#######################################
# Remove our logging v2 for one distribution: every delivery from one of its
# delivery sources to one of our destinations (cequence-cf-passive-*), then
# our source CequenceCloudFront-<ID> if nothing else uses it. Sources and
# deliveries of anyone else stay. Uses and updates the CF_*_JSON state.
# Arguments: id, distribution ARN.
#######################################
cf_remove_v2() {
  local id="$1" arn="$2" ours="${CF_SOURCE_PREFIX}$1" sources did left
  sources="$(jq -c --arg a "${arn}" --arg n "${ours}" \
    '[.[] | select(((.resourceArns // []) | index($a)) or .name == $n) | .name]' <<<"${CF_SOURCES_JSON}")"
  # A delivery is ours when it goes to one of our destinations.
  # shellcheck disable=SC2016  # jq variables, not shell ones
  local def_ours='def ours: (.deliverySourceName as $s | $src | index($s)) and ((.deliveryDestinationArn // "") | test(":delivery-destination:" + $p + "-"));'
  while IFS= read -r did; do
    [[ -n "${did}" ]] || continue
    aws_rw logs delete-delivery --region "${CF_LOGS_REGION}" --id "${did}" ||
      die "delete delivery ${did}" "aws logs delete-delivery failed" "check logs:DeleteDelivery in the deployer policy"
    changed
    info "distribution ${id}: delivery ${did} deleted"
  done < <(jq -r --argjson src "${sources}" --arg p "${CF_NAME_PREFIX}" "${def_ours} .[] | select(ours) | .id" <<<"${CF_DELIVERIES_JSON}")
  CF_DELIVERIES_JSON="$(jq -c --argjson src "${sources}" --arg p "${CF_NAME_PREFIX}" \
    "${def_ours} [.[] | select(ours | not)]" <<<"${CF_DELIVERIES_JSON}")"

  if jq -e --arg n "${ours}" 'any(.[]; .name == $n)' <<<"${CF_SOURCES_JSON}" >/dev/null; then
    left="$(jq -r --arg n "${ours}" '[.[] | select(.deliverySourceName == $n)] | length' <<<"${CF_DELIVERIES_JSON}")"
    if ((left > 0)); then
      info "distribution ${id}: delivery source ${ours} kept, still used by ${left} delivery(ies) not made by us"
    else
      aws_rw logs delete-delivery-source --region "${CF_LOGS_REGION}" --name "${ours}" ||
        die "delete delivery source ${ours}" "aws logs delete-delivery-source failed" \
          "check logs:DeleteDeliverySource in the deployer policy"
      changed
      info "distribution ${id}: delivery source ${ours} deleted"
      CF_SOURCES_JSON="$(jq -c --arg n "${ours}" '[.[] | select(.name != $n)]' <<<"${CF_SOURCES_JSON}")"
    fi
  fi
  local foreign
  foreign="$(jq -r --arg a "${arn}" --arg n "${ours}" \
    '.[] | select((.resourceArns // []) | index($a)) | select(.name != $n) | .name' <<<"${CF_SOURCES_JSON}")"
  if [[ -n "${foreign}" ]]; then
    info "distribution ${id}: delivery source(s) not made by us left alone: ${foreign//$'\n'/, }"
  fi
}

#######################################
# Undo our legacy logging on one distribution: when its Logging points at
# our bucket (LEGACY_DOMAIN), put back the setting recorded in the
# cequence-original-logging tag exactly, or turn logging off when there is
# no record. Logging that points elsewhere is left alone. Our record tag is
# removed either way. Arguments: id, distribution ARN.
#######################################
cf_remove_legacy() {
  local id="$1" arn="$2" bucket enabled recorded original
  cf_get_distribution_config "${id}"
  enabled="$(jq -r '.DistributionConfig.Logging.Enabled // false' <<<"${CF_DIST_CONFIG}")"
  bucket="$(jq -r '.DistributionConfig.Logging.Bucket // ""' <<<"${CF_DIST_CONFIG}")"
  cf_read_tags "${arn}"
  recorded="$(cf_tag_value "${CF_ORIGINAL_LOGGING_TAG}")"
  if [[ "${enabled}" == "true" && "${bucket}" == "${LEGACY_DOMAIN}" ]]; then
    if [[ -n "${recorded}" ]]; then
      original="$(printf '%s' "${recorded}" | base64 -d 2>/dev/null)" || original=""
      jq -e 'type == "object"' <<<"${original:-null}" >/dev/null 2>&1 ||
        die "restore logging of ${id}" "tag ${CF_ORIGINAL_LOGGING_TAG} does not hold a Logging setting" \
          "set the distribution's logging by hand, then remove the tag ${CF_ORIGINAL_LOGGING_TAG}"
      cf_put_logging "${id}" "$(jq -c . <<<"${original}")" "check cloudfront:UpdateDistribution in the deployer policy"
      info "distribution ${id}: legacy logging restored to its setting before enable"
    else
      cf_put_logging "${id}" '{"Enabled":false,"IncludeCookies":false,"Bucket":"","Prefix":""}' \
        "check cloudfront:UpdateDistribution in the deployer policy"
      info "distribution ${id}: legacy logging to ${bucket} turned off"
    fi
  elif [[ "${enabled}" == "true" ]]; then
    info "distribution ${id}: legacy logging to ${bucket} is not ours; left alone"
  fi
  if cf_has_tag "${CF_ORIGINAL_LOGGING_TAG}"; then
    cf_untag "${arn}" "${CF_ORIGINAL_LOGGING_TAG}"
    changed
  fi
}

# Real-time logs. A cache behavior holds at most one real-time log
# configuration (RealtimeLogConfigArn in DefaultCacheBehavior and in each
# CacheBehaviors item). Ours is the configuration Terraform made; a behavior
# whose ARN is ours was attached by enable --realtime, so that ARN is the
# record of what to detach (robust to behaviors being added, removed or
# reordered). Only a configuration we replaced (--take-over) needs a record:
# the tag below holds base64 of {"<configuration name>": ["<path pattern>",
# ...]} ("" = the default behavior); disable puts those back and removes it.
readonly CF_ORIGINAL_REALTIME_TAG="cequence-original-realtime"
# shellcheck disable=SC2034  # used by the enable and disable scripts
readonly CF_REALTIME_ARN_RE='^arn:aws[a-z-]*:cloudfront::[0-9]{12}:realtime-log-config/[A-Za-z0-9_-]{1,128}$'
CF_REALTIME_SKIPPED=()
CF_REALTIME_FULL=false

#######################################
# Each cache behavior of CF_DIST_CONFIG with its real-time configuration,
# as compact JSON lines {"p": "<path pattern>" or "" (default), "a": "<arn>" or ""}.
#######################################
cf_realtime_behaviors() {
  jq -c '.DistributionConfig
    | ([{p: "", a: (.DefaultCacheBehavior.RealtimeLogConfigArn // "")}]
       + [(.CacheBehaviors.Items // [])[] | {p: .PathPattern, a: (.RealtimeLogConfigArn // "")}])[]' \
    <<<"${CF_DIST_CONFIG}"
}

# A behavior's name for messages.
cf_behavior_label() { if [[ -z "$1" ]]; then printf '(default)'; else printf '%s' "$1"; fi; }

#######################################
# Set the real-time configuration of some cache behaviors, guarded by the
# ETag of CF_DIST_CONFIG (read just before): a distribution changed meanwhile
# makes CloudFront refuse (PreconditionFailed) and nothing is overwritten.
# Arguments: id, JSON object {"<path pattern>" or "": "<arn>" or "" (= none)},
# the fix to suggest if CloudFront refuses.
#######################################
cf_put_realtime() {
  local id="$1" changes="$2" fix="$3" tmp="${WORKDIR}/dist-rt-$1.json"
  jq --argjson m "${changes}" '
    def setrt($a): if $a == "" then del(.RealtimeLogConfigArn) else .RealtimeLogConfigArn = $a end;
    .DistributionConfig
    | if $m | has("") then .DefaultCacheBehavior |= setrt($m[""]) else . end
    | if .CacheBehaviors.Items then
        .CacheBehaviors.Items |= map(if (.PathPattern as $p | $m | has($p)) then setrt($m[.PathPattern]) else . end)
      else . end' <<<"${CF_DIST_CONFIG}" >"${tmp}"
  aws_rw cloudfront update-distribution --id "${id}" \
    --if-match "$(jq -r .ETag <<<"${CF_DIST_CONFIG}")" \
    --distribution-config "file://${tmp}" ||
    die "update distribution ${id}" "aws cloudfront update-distribution failed; nothing was overwritten" \
      "if the distribution changed meanwhile (PreconditionFailed), re-run; ${fix}"
  changed
}

#######################################
# Attach our real-time log configuration to the default and every other
# cache behavior of a distribution. A behavior with someone else's
# configuration is left alone and reported, unless TAKE_OVER: then its
# configuration's name is recorded first (tag cequence-original-realtime)
# so disable can put it back. Sets CF_REALTIME_FULL=true when afterwards
# every behavior carries ours. Returns 1 when none does.
# Arguments: id, distribution ARN, our configuration ARN, take_over.
#######################################
cf_attach_realtime() {
  local id="$1" arn="$2" ours="$3" take_over="$4" line p a
  local changes='{}' taken='{}' attached=() foreign=() have=0 total=0
  CF_REALTIME_FULL=false
  cf_get_distribution_config "${id}"
  while IFS= read -r line; do
    [[ -n "${line}" ]] || continue
    p="$(jq -r .p <<<"${line}")"
    a="$(jq -r .a <<<"${line}")"
    total=$((total + 1))
    if [[ "${a}" == "${ours}" ]]; then
      have=$((have + 1))
    elif [[ -z "${a}" ]]; then
      changes="$(jq -c --arg p "${p}" --arg a "${ours}" '.[$p] = $a' <<<"${changes}")"
      attached+=("$(cf_behavior_label "${p}")")
    elif [[ "${take_over}" == "true" ]]; then
      changes="$(jq -c --arg p "${p}" --arg a "${ours}" '.[$p] = $a' <<<"${changes}")"
      taken="$(jq -c --arg p "${p}" --arg n "${a##*/}" '.[$n] += [$p]' <<<"${taken}")"
      attached+=("$(cf_behavior_label "${p}")")
    else
      foreign+=("$(cf_behavior_label "${p}") (${a##*/})")
    fi
  done < <(cf_realtime_behaviors)

  if ((${#foreign[@]} > 0)); then
    warn "distribution ${id}: cache behavior(s) with their own real-time log configuration left alone: ${foreign[*]} (their requests are not forwarded in real time; re-run with --take-over to attach ours in their place: the configuration is recorded and disable puts it back)"
    CF_REALTIME_SKIPPED+=("${id}")
  fi
  if [[ "${taken}" != '{}' ]]; then
    local encoded recorded merged
    cf_read_tags "${arn}"
    recorded="$(cf_tag_value "${CF_ORIGINAL_REALTIME_TAG}")"
    merged="${taken}"
    if [[ -n "${recorded}" ]]; then
      # Keep what an earlier take-over recorded; add the behaviors taken now.
      merged="$(printf '%s' "${recorded}" | base64 -d 2>/dev/null | jq -c --argjson t "${taken}" \
        'reduce ($t | to_entries[]) as $e (.; .[$e.key] = ((.[$e.key] // []) + $e.value | unique))' 2>/dev/null)" ||
        die "record real-time configuration of ${id}" "tag ${CF_ORIGINAL_REALTIME_TAG} does not hold a record; nothing changed" \
          "remove the tag ${CF_ORIGINAL_REALTIME_TAG} from the distribution, then re-run"
    fi
    encoded="$(printf '%s' "${merged}" | base64 | tr -d '\n')"
    ((${#encoded} <= 256)) ||
      die "record real-time configuration of ${id}" "the configurations to replace are too long to record in a tag (${#encoded} > 256 characters); nothing changed" \
        "attach ours to fewer behaviors by hand, or forward this distribution from its standard logs (enable without --realtime)"
    cf_tag "${arn}" "${CF_ORIGINAL_REALTIME_TAG}" "${encoded}"
    changed
    info "distribution ${id}: the real-time configuration(s) to replace recorded in tag ${CF_ORIGINAL_REALTIME_TAG}"
  fi
  if ((${#attached[@]} == 0)); then
    if ((have > 0)); then
      info "distribution ${id}: real-time log configuration ${ours##*/} unchanged (${have} of ${total} cache behavior(s))"
    fi
  else
    cf_put_realtime "${id}" "${changes}" "check cloudfront:UpdateDistribution (and iam:PassRole on the configuration's role) in the deployer policy"
    have=$((have + ${#attached[@]}))
    info "distribution ${id}: real-time log configuration ${ours##*/} attached to: ${attached[*]}"
  fi
  ((have == total)) && CF_REALTIME_FULL=true
  ((have > 0))
}

#######################################
# Detach our real-time log configuration from every cache behavior that
# still carries it; a behavior whose configuration we replaced (recorded in
# the tag cequence-original-realtime) gets that one back. Any other
# configuration is left alone. The record tag is removed afterwards.
# Arguments: id, distribution ARN, our configuration ARN.
#######################################
cf_detach_realtime() {
  local id="$1" arn="$2" ours="$3" line p a recorded record='{}' original
  local changes='{}' detached=() restored=() others=()
  cf_get_distribution_config "${id}"
  cf_read_tags "${arn}"
  recorded="$(cf_tag_value "${CF_ORIGINAL_REALTIME_TAG}")"
  if [[ -n "${recorded}" ]]; then
    record="$(printf '%s' "${recorded}" | base64 -d 2>/dev/null | jq -c 'select(type == "object")' 2>/dev/null)" || record=""
    [[ -n "${record}" ]] ||
      die "restore real-time configuration of ${id}" "tag ${CF_ORIGINAL_REALTIME_TAG} does not hold a record; nothing changed" \
        "set the behaviors' real-time configuration by hand, then remove the tag ${CF_ORIGINAL_REALTIME_TAG}"
  fi
  while IFS= read -r line; do
    [[ -n "${line}" ]] || continue
    p="$(jq -r .p <<<"${line}")"
    a="$(jq -r .a <<<"${line}")"
    if [[ "${a}" == "${ours}" ]]; then
      original="$(jq -r --arg p "${p}" '[to_entries[] | select(.value | index($p)) | .key][0] // empty' <<<"${record}")"
      if [[ -n "${original}" ]]; then
        changes="$(jq -c --arg p "${p}" --arg a "${ours%/*}/${original}" '.[$p] = $a' <<<"${changes}")"
        restored+=("$(cf_behavior_label "${p}") (${original})")
      else
        changes="$(jq -c --arg p "${p}" '.[$p] = ""' <<<"${changes}")"
        detached+=("$(cf_behavior_label "${p}")")
      fi
    elif [[ -n "${a}" ]]; then
      others+=("$(cf_behavior_label "${p}") (${a##*/})")
    fi
  done < <(cf_realtime_behaviors)
  if [[ "${changes}" != '{}' ]]; then
    cf_put_realtime "${id}" "${changes}" "check cloudfront:UpdateDistribution in the deployer policy"
    ((${#detached[@]} == 0)) || info "distribution ${id}: real-time log configuration ${ours##*/} detached from: ${detached[*]}"
    ((${#restored[@]} == 0)) || info "distribution ${id}: real-time log configuration put back as before enable: ${restored[*]}"
  fi
  ((${#others[@]} == 0)) || info "distribution ${id}: real-time log configuration(s) not made by us left alone: ${others[*]}"
  if [[ -n "${recorded}" ]]; then
    cf_untag "${arn}" "${CF_ORIGINAL_REALTIME_TAG}"
    changed
  fi
}

#######################################
# When our configuration's ARN is unknown (no Terraform output, no
# --realtime-config-arn): name any configuration of this project's naming
# still attached to CF_DIST_CONFIG's behaviors, so it is not forgotten (it
# keeps CloudFront writing, and Terraform cannot delete it while attached).
# Argument: id.
#######################################
cf_warn_unknown_realtime() {
  local id="$1" found
  found="$(cf_realtime_behaviors | jq -r --arg n ":realtime-log-config/${CF_NAME_PREFIX}-realtime-" \
    'select(.a | contains($n)) | .a' | sort -u)"
  if [[ -n "${found}" ]]; then
    warn "distribution ${id}: carries the real-time log configuration ${found//$'\n'/, }, which looks like this project's, but Terraform's output realtime_log_config_arn is empty; left attached (re-run with --realtime-config-arn ${found%%$'\n'*} to detach it)"
  fi
}
