#!/usr/bin/env bash
# Deploy cf-passive with Terraform and send CloudFront standard logs to its bucket.
set -euo pipefail
# Files this script writes (tfvars, edited distribution configs) are private.
umask 077

# shellcheck disable=SC2034  # used by lib/common.sh
SCRIPT_NAME="enable_aws_cf_integration.sh"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091  # sourced by path relative to the repo root
source "${ROOT}/scripts/lib/common.sh"
# shellcheck disable=SC1091
source "${ROOT}/scripts/lib/env.sh"
# shellcheck disable=SC1091
source "${ROOT}/scripts/lib/cloudfront.sh"

usage() {
  cat <<USAGE
Usage: scripts/enable_aws_cf_integration.sh [options]

Regenerates terraform/terraform.tfvars from .env, runs terraform init/apply,
then, for each CloudFront distribution, sends its standard logs to the log
bucket (logging v2 by default) and tags it ${CF_TAG_KEY}=true.
Re-running converges: nothing that already exists is created again.
Logging set up by anyone else is never deleted or overwritten: logging v2
adds our delivery beside theirs; legacy logging to another bucket is left
alone unless --take-over (its setting is recorded and disable restores it).

With --realtime (Terraform applied with realtime_logs = true), the
distributions are forwarded from CloudFront real-time logs instead: our
real-time log configuration is attached to the default and every other cache
behavior, then our standard logging of a distribution whose every behavior
now carries ours is removed (no request is forwarded twice). A behavior with
its own real-time configuration is left alone unless --take-over. Running
enable again without --realtime switches back: standard logging first, then
our real-time configuration is detached.

  --distribution ID      distribution to enable (repeatable; default: all, after confirmation)
  --output-format FMT    v2 output format: w3c (default) or json
  --legacy               use legacy standard logging (Logging in the distribution config)
  --take-over            legacy: replace legacy logging that goes to another bucket
                         (recorded in the tag ${CF_ORIGINAL_LOGGING_TAG}, restored by disable);
                         --realtime: replace a behavior's own real-time configuration
                         (recorded in the tag ${CF_ORIGINAL_REALTIME_TAG}, restored by disable)
  --realtime             forward from real-time logs (Kinesis) instead of standard logs
  --realtime-config-arn ARN
                         the real-time log configuration to attach (implies --realtime;
                         default: Terraform's output realtime_log_config_arn)
  --replace              recreate our delivery destination when its output format differs
  --skip-terraform       don't regenerate tfvars or run terraform init/apply
  --env FILE             .env file (default: <repo>/.env)
  --yes                  don't ask: confirm every distribution and terraform -auto-approve
                         (tf_auto_approve=true in .env auto-approves Terraform only)
  --dry-run              print every mutating AWS/terraform call instead of making it
                         (read-only describe/list/get calls are still made, and printed)
  -h, --help             show this help
USAGE
}

declare -a SKIPPED=()
OUR_LEGACY_ACTIVE=false

#######################################
# Make sure our delivery destination exists for the bucket. Sets DEST_ARN.
#######################################
ensure_destination() {
  local name="$1" format="$2" resource_arn="$3" replace="$4" existing cur_fmt cur_arn
  existing="$(jq -c --arg n "${name}" '[.[] | select(.name == $n)][0] // empty' <<<"${CF_DESTINATIONS_JSON}")"
  DEST_ARN="arn:${PARTITION}:logs:${CF_LOGS_REGION}:${ACCOUNT_ID}:delivery-destination:${name}"
  if [[ -n "${existing}" ]]; then
    DEST_ARN="$(jq -r '.arn' <<<"${existing}")"
    cur_fmt="$(jq -r '.outputFormat // ""' <<<"${existing}")"
    cur_arn="$(jq -r '.deliveryDestinationConfiguration.destinationResourceArn // ""' <<<"${existing}")"
    if [[ "${cur_fmt}" == "${format}" && "${cur_arn}" == "${resource_arn}" ]]; then
      info "delivery destination ${name}: unchanged (${format} -> ${resource_arn})"
      return 0
    fi
    if [[ "${replace}" != "true" ]]; then
      die "delivery destination ${name}" \
        "exists with output format ${cur_fmt} and target ${cur_arn}, wanted ${format} and ${resource_arn} (the format can't be changed in place)" \
        "re-run with --output-format ${cur_fmt}, or with --replace to recreate it and its deliveries"
    fi
    local id
    while IFS= read -r id; do
      [[ -n "${id}" ]] || continue
      aws_rw logs delete-delivery --region "${CF_LOGS_REGION}" --id "${id}" ||
        die "delete delivery ${id}" "aws logs delete-delivery failed" "check logs:DeleteDelivery"
    done < <(jq -r --arg a "${DEST_ARN}" '.[] | select(.deliveryDestinationArn == $a) | .id' <<<"${CF_DELIVERIES_JSON}")
    aws_rw logs delete-delivery-destination --region "${CF_LOGS_REGION}" --name "${name}" ||
      die "delete delivery destination ${name}" "aws logs delete-delivery-destination failed" "check logs:DeleteDeliveryDestination"
    CF_DELIVERIES_JSON="$(jq -c --arg a "${DEST_ARN}" '[.[] | select(.deliveryDestinationArn != $a)]' <<<"${CF_DELIVERIES_JSON}")"
  fi
  aws_rw logs put-delivery-destination --region "${CF_LOGS_REGION}" --name "${name}" \
    --output-format "${format}" \
    --delivery-destination-configuration "$(jq -cn --arg a "${resource_arn}" '{destinationResourceArn: $a}')" ||
    die "create delivery destination ${name}" "aws logs put-delivery-destination failed" \
      "check logs:PutDeliveryDestination and s3:GetBucketPolicy/s3:PutBucketPolicy on the log bucket"
  changed
  info "delivery destination ${name}: created (${format} -> ${resource_arn})"
}

#######################################
# Logging v2 for one distribution. CloudFront allows one delivery source per
# distribution: when someone else's exists, our delivery is added to it
# (beside theirs) instead of creating ours. CloudWatch Logs allows one S3
# delivery per source, so a source that already delivers to S3 elsewhere is
# left alone (returns 1).
#######################################
enable_v2() {
  local id="$1" arn="$2" ours="${CF_SOURCE_PREFIX}$1" foreign src src_name their_s3
  src="$(jq -c --arg n "${ours}" '[.[] | select(.name == $n)][0] // empty' <<<"${CF_SOURCES_JSON}")"
  foreign="$(jq -r --arg a "${arn}" --arg n "${ours}" \
    '[.[] | select((.resourceArns // []) | index($a)) | select(.name != $n) | .name][0] // empty' <<<"${CF_SOURCES_JSON}")"
  if [[ -z "${src}" && -n "${foreign}" ]]; then
    their_s3="$(jq -r --arg n "${foreign}" --arg d "${DEST_ARN}" \
      '[.[] | select(.deliverySourceName == $n and .deliveryDestinationArn != $d and (.deliveryDestinationType // "S3") == "S3")
        | .deliveryDestinationArn | split(":") | last][0] // empty' <<<"${CF_DELIVERIES_JSON}")"
    if [[ -n "${their_s3}" ]]; then
      warn "distribution ${id}: its own logging v2 source ${foreign} already delivers to S3 (destination ${their_s3}) and CloudWatch Logs allows one S3 delivery per source; left untouched (forward from that bucket with existing_bucket_name, or use --legacy)"
      SKIPPED+=("${id}")
      return 1
    fi
    src_name="${foreign}"
    info "distribution ${id}: has its own logging v2 delivery source ${foreign}; adding our delivery beside its own"
    if [[ ",${ENV_VALUES[extra_log_delivery_sources]:-}," != *",${foreign},"* ]]; then
      warn "distribution ${id}: the bucket policy admits only our delivery sources; add ${foreign} to extra_log_delivery_sources in .env and re-run, or the next terraform apply removes the statement CloudWatch Logs adds for it"
    fi
  else
    src_name="${ours}"
    if [[ -n "${src}" ]] && jq -e --arg a "${arn}" '((.resourceArns // []) | index($a)) and .logType == "ACCESS_LOGS"' <<<"${src}" >/dev/null; then
      info "distribution ${id}: delivery source ${ours} unchanged"
    else
      aws_rw logs put-delivery-source --region "${CF_LOGS_REGION}" --name "${ours}" \
        --log-type ACCESS_LOGS --resource-arn "${arn}" ||
        die "create delivery source ${ours}" "aws logs put-delivery-source failed" \
          "check logs:PutDeliverySource and cloudfront:AllowVendedLogDeliveryForResource on ${arn}"
      changed
      info "distribution ${id}: delivery source ${ours} created"
    fi
  fi

  local fields_json s3conf delivery want
  fields_json="$(printf '%s\n' "${CF_RECORD_FIELDS[@]}" | jq -R . | jq -cs .)"
  s3conf="$(jq -cn --arg p "${CF_SUFFIX_PATH}" '{suffixPath: $p, enableHiveCompatiblePath: false}')"
  delivery="$(jq -c --arg n "${src_name}" --arg d "${DEST_ARN}" \
    '[.[] | select(.deliverySourceName == $n and .deliveryDestinationArn == $d)][0] // empty' <<<"${CF_DELIVERIES_JSON}")"
  if [[ -n "${delivery}" ]]; then
    want="$(jq -cn --argjson f "${fields_json}" --arg p "${CF_SUFFIX_PATH}" '{f: ($f | sort), p: $p}')"
    if [[ "$(jq -c '{f: ((.recordFields // []) | sort), p: (.s3DeliveryConfiguration.suffixPath // "")}' <<<"${delivery}")" == "${want}" ]]; then
      info "distribution ${id}: delivery to ${DEST_ARN##*:} unchanged"
      return 0
    fi
    # Our own delivery (to our destination) with other fields or path: recreate it.
    aws_rw logs delete-delivery --region "${CF_LOGS_REGION}" --id "$(jq -r .id <<<"${delivery}")" ||
      die "delete delivery" "aws logs delete-delivery failed" "check logs:DeleteDelivery"
    info "distribution ${id}: delivery settings differ; recreating it"
  fi
  aws_rw logs create-delivery --region "${CF_LOGS_REGION}" --delivery-source-name "${src_name}" \
    --delivery-destination-arn "${DEST_ARN}" --record-fields "${fields_json}" \
    --s3-delivery-configuration "${s3conf}" ||
    die "create delivery for ${id}" "aws logs create-delivery failed" \
      "check logs:CreateDelivery; if it says the delivery exists, run scripts/disable_aws_cf_integration.sh --distribution ${id} and retry"
  changed
  info "distribution ${id}: delivery to ${DEST_ARN##*:} created"
}

#######################################
# Legacy standard logging for one distribution. Logging that goes to another
# bucket is left alone unless TAKE_OVER; whatever setting we replace is first
# recorded in the cequence-original-logging tag, so disable can restore it.
#######################################
enable_legacy() {
  local id="$1" arn="$2" take_over="$3" want cur cur_raw enabled bucket encoded
  cf_get_distribution_config "${id}"
  want="$(jq -cn --arg b "${LEGACY_DOMAIN}" --arg p "${LOG_PREFIX}" \
    '{Enabled: true, IncludeCookies: true, Bucket: $b, Prefix: $p}')"
  cur_raw="$(jq -c '.DistributionConfig.Logging // {}' <<<"${CF_DIST_CONFIG}")"
  cur="$(jq -c '{Enabled: (.Enabled // false), IncludeCookies: (.IncludeCookies // false), Bucket: (.Bucket // ""), Prefix: (.Prefix // "")}' <<<"${cur_raw}")"
  if [[ "${cur}" == "${want}" ]]; then
    info "distribution ${id}: legacy logging unchanged (${LEGACY_DOMAIN}/${LOG_PREFIX})"
    return 0
  fi
  enabled="$(jq -r .Enabled <<<"${cur}")"
  bucket="$(jq -r .Bucket <<<"${cur}")"
  if [[ "${enabled}" == "true" && "${bucket}" != "${LEGACY_DOMAIN}" && "${take_over}" != "true" ]]; then
    warn "distribution ${id}: legacy logging already goes to ${bucket}; left untouched (re-run with --take-over to point it at ${LEGACY_DOMAIN}: its setting is recorded and disable restores it)"
    SKIPPED+=("${id}")
    return 1
  fi
  if [[ "${bucket}" != "${LEGACY_DOMAIN}" ]]; then
    cf_read_tags "${arn}"
    if cf_has_tag "${CF_ORIGINAL_LOGGING_TAG}"; then
      info "distribution ${id}: its earlier legacy logging setting is already recorded in tag ${CF_ORIGINAL_LOGGING_TAG}"
    else
      encoded="$(printf '%s' "${cur_raw}" | base64 | tr -d '\n')"
      ((${#encoded} <= 256)) ||
        die "record logging of ${id}" "its current Logging setting is too long to record in a tag (${#encoded} > 256 characters); nothing changed" \
          "use logging v2 (without --legacy), which adds our delivery beside the existing logging"
      cf_tag "${arn}" "${CF_ORIGINAL_LOGGING_TAG}" "${encoded}"
      changed
      info "distribution ${id}: current legacy logging setting recorded in tag ${CF_ORIGINAL_LOGGING_TAG}"
    fi
  fi
  cf_put_logging "${id}" "${want}" \
    "check cloudfront:UpdateDistribution and s3:GetBucketAcl/s3:PutBucketAcl on the log bucket"
  info "distribution ${id}: legacy logging set to ${LEGACY_DOMAIN}/${LOG_PREFIX}"
}

#######################################
# Legacy mode: remove our logging v2 for the distribution, if any, so records
# are not delivered twice.
#######################################
remove_our_v2() {
  local id="$1" arn="$2" sources
  sources="$(jq -c --arg a "${arn}" --arg n "${CF_SOURCE_PREFIX}${id}" \
    '[.[] | select(((.resourceArns // []) | index($a)) or .name == $n) | .name]' <<<"${CF_SOURCES_JSON}")"
  if jq -e --arg n "${CF_SOURCE_PREFIX}${id}" 'any(.[]; .name == $n)' <<<"${CF_SOURCES_JSON}" >/dev/null ||
    jq -e --argjson src "${sources}" --arg d "${DEST_ARN}" \
      'any(.[]; .deliveryDestinationArn == $d and (.deliverySourceName as $s | $src | index($s)))' <<<"${CF_DELIVERIES_JSON}" >/dev/null; then
    info "distribution ${id}: switching from logging v2 to legacy logging"
    cf_remove_v2 "${id}" "${arn}"
  fi
}

#######################################
# v2 mode: legacy logging to another bucket is someone else's and does not
# conflict, so it is kept; our own legacy logging is turned off (restored to
# its recorded setting) once v2 is in place, so nothing is delivered twice.
# Sets OUR_LEGACY_ACTIVE.
#######################################
check_legacy_in_v2_mode() {
  local id="$1" enabled bucket
  OUR_LEGACY_ACTIVE=false
  cf_get_distribution_config "${id}"
  enabled="$(jq -r '.DistributionConfig.Logging.Enabled // false' <<<"${CF_DIST_CONFIG}")"
  bucket="$(jq -r '.DistributionConfig.Logging.Bucket // ""' <<<"${CF_DIST_CONFIG}")"
  if [[ "${enabled}" == "true" && "${bucket}" != "${LEGACY_DOMAIN}" ]]; then
    info "distribution ${id}: keeps its own legacy logging to ${bucket}; adding logging v2 beside it"
  elif [[ "${enabled}" == "true" ]]; then
    OUR_LEGACY_ACTIVE=true
  fi
}

main() {
  local env_file="${ROOT}/.env" output_format="w3c" legacy=false replace=false take_over=false
  local skip_tf=false yes=false realtime=false rt_arn=""
  local -a dists=()
  while (($# > 0)); do
    case "$1" in
      --distribution)
        [[ $# -ge 2 ]] || die "arguments" "--distribution needs an id" "see --help"
        valid_distribution_id "$2" || die "arguments" "'$2' is not a CloudFront distribution id" \
          "use the Id column of aws cloudfront list-distributions"
        dists+=("$2"); shift 2 ;;
      --output-format)
        [[ $# -ge 2 && ("$2" == "w3c" || "$2" == "json") ]] ||
          die "arguments" "--output-format must be w3c or json" "see --help"
        output_format="$2"; shift 2 ;;
      --legacy) legacy=true; shift ;;
      --replace) replace=true; shift ;;
      --take-over) take_over=true; shift ;;
      --realtime) realtime=true; shift ;;
      --realtime-config-arn)
        [[ $# -ge 2 && "$2" =~ ${CF_REALTIME_ARN_RE} ]] ||
          die "arguments" "--realtime-config-arn needs a real-time log configuration ARN (arn:aws:cloudfront::<account>:realtime-log-config/<name>)" \
            "use Terraform's output realtime_log_config_arn"
        realtime=true; rt_arn="$2"; shift 2 ;;
      --skip-terraform) skip_tf=true; shift ;;
      --env) [[ $# -ge 2 ]] || die "arguments" "--env needs a file" "see --help"; env_file="$2"; shift 2 ;;
      --yes) yes=true; shift ;;
      --dry-run) DRY_RUN=true; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "arguments" "unknown argument: $1" "see --help" ;;
    esac
  done

  if [[ "${realtime}" == "true" && "${legacy}" == "true" ]]; then
    die "arguments" "--realtime and --legacy exclude each other (real-time logs replace standard logging)" \
      "choose one"
  fi

  require_cmds aws jq terraform
  cd "${ROOT}"
  WORKDIR="$(mktemp -d)"
  # shellcheck disable=SC2064  # expand WORKDIR now
  trap "rm -rf '${WORKDIR}'" EXIT
  aws_prepare_config "${WORKDIR}"

  env_load_or_die "${env_file}"
  # --yes answers every question; tf_auto_approve only Terraform's.
  # shellcheck disable=SC2034  # read by confirm in lib/common.sh
  ASSUME_YES="${yes}"
  local tf_auto=false
  if [[ "${yes}" == "true" || "${ENV_VALUES[tf_auto_approve]:-false}" == "true" ]]; then
    tf_auto=true
  fi

  # 1. Terraform.
  if [[ "${skip_tf}" != "true" ]]; then
    local -a setup_args=(--env "${env_file}")
    [[ "${DRY_RUN}" == "true" ]] && setup_args+=(--dry-run)
    "${ROOT}/scripts/setup-tfvars.sh" "${setup_args[@]}" ||
      die "generate tfvars" "scripts/setup-tfvars.sh failed" "fix the .env problems above and re-run"
    tf_rw init -input=false ||
      die "terraform init" "terraform init failed" "check network access to the provider registry and terraform/ backend settings"
    local -a apply_args=(apply)
    [[ "${tf_auto}" == "true" ]] && apply_args+=(-input=false -auto-approve)
    tf_rw "${apply_args[@]}" ||
      die "terraform apply" "terraform apply failed or was declined" "read terraform's error above, fix it and re-run"
  fi

  # 2. Outputs.
  if ! tf_read_outputs; then
    if [[ "${DRY_RUN}" != "true" ]]; then
      die "read terraform outputs" "terraform -chdir=terraform output -json returned no outputs" \
        "run this script without --skip-terraform (or terraform apply) first"
    fi
    warn "no terraform outputs yet (not applied); using placeholders for the dry run"
    # shellcheck disable=SC2034  # read by tf_output in lib/common.sh
    TF_OUTPUTS='{"log_bucket_name":{"value":"<log_bucket_name>"},"log_prefix":{"value":"cloudfront-logs/"},"account_id":{"value":"<account_id>"},"partition":{"value":"aws"},"legacy_logging_bucket_domain":{"value":"<log_bucket_name>.s3.amazonaws.com"},"delivery_destination_resource_arn":{"value":"arn:aws:s3:::<log_bucket_name>/cloudfront-logs"}}'
  fi
  local bucket resource_arn
  bucket="$(tf_output log_bucket_name)"
  LOG_PREFIX="$(tf_output log_prefix)"
  ACCOUNT_ID="$(tf_output account_id)"
  PARTITION="$(tf_output partition)"
  PARTITION="${PARTITION:-aws}"
  LEGACY_DOMAIN="$(tf_output legacy_logging_bucket_domain)"
  resource_arn="$(tf_output delivery_destination_resource_arn)"
  [[ -n "${LEGACY_DOMAIN}" ]] || LEGACY_DOMAIN="${bucket}.s3.amazonaws.com"
  if [[ -z "${bucket}" || -z "${ACCOUNT_ID}" || -z "${resource_arn}" ]]; then
    die "read terraform outputs" "log_bucket_name, account_id or delivery_destination_resource_arn is missing" \
      "make sure terraform/ is up to date and applied"
  fi
  if [[ "$(tf_output legacy_logging)" == "true" && "${legacy}" != "true" && "${realtime}" != "true" ]]; then
    info "Terraform was applied with legacy_logging=true: using legacy logging"
    legacy=true
  fi
  # Our real-time log configuration: attached with --realtime; without it,
  # detached after standard logging is in place (switching back).
  [[ -n "${rt_arn}" ]] || rt_arn="$(tf_output realtime_log_config_arn)"
  if [[ "${realtime}" == "true" && -z "${rt_arn}" ]]; then
    if [[ "${DRY_RUN}" != "true" ]]; then
      die "read terraform outputs" "Terraform's output realtime_log_config_arn is empty: the deployment has no real-time log configuration" \
        "put realtime_logs = true in terraform/realtime.auto.tfvars and re-run (see docs/deploy.md), or pass --realtime-config-arn ARN"
    fi
    warn "no real-time log configuration yet (realtime_logs not applied); using a placeholder for the dry run"
    rt_arn="arn:${PARTITION}:cloudfront::${ACCOUNT_ID}:realtime-log-config/<realtime_log_config>"
  fi
  local rate
  rate="$(tf_output realtime_sampling_rate)"
  if [[ "${realtime}" == "true" && -n "${rate}" && "${rate}" != "100" ]]; then
    warn "the real-time log configuration samples ${rate}% of requests: the other requests of the distributions forwarded in real time never reach the bridge (set realtime_sampling_rate = 100 to forward every request)"
  fi

  # 3. Distributions.
  if ((${#dists[@]} == 0)); then
    cf_load_distributions
    local ids
    ids="$(cf_distribution_ids)"
    [[ -z "${ids}" ]] || mapfile -t dists <<<"${ids}"
    if ((${#dists[@]} == 0)); then
      info "No CloudFront distributions found; nothing to enable."
      return 0
    fi
    info "Distributions in this account:"
    cf_describe_distributions "${dists[@]}"
    local question="Send the standard logs of these ${#dists[@]} distribution(s) to ${bucket}?"
    [[ "${realtime}" != "true" ]] || question="Forward these ${#dists[@]} distribution(s) from real-time logs (attach ${rt_arn##*/} to every cache behavior)?"
    if [[ "${DRY_RUN}" != "true" ]] && ! confirm "${question}"; then
      die "confirm distributions" "not confirmed; nothing changed in CloudFront" \
        "answer y, pass --yes (tf_auto_approve does not answer this), or choose distributions with --distribution ID"
    fi
  fi

  local id arn mode="v2 (${output_format})"
  [[ "${legacy}" == "true" ]] && mode="legacy"
  if [[ "${realtime}" == "true" ]]; then
    info "Enabling ${#dists[@]} distribution(s), real-time logs, configuration ${rt_arn##*/}"
  else
    info "Enabling ${#dists[@]} distribution(s), logging ${mode}, bucket ${bucket}, prefix ${LOG_PREFIX}"
  fi
  cf_refresh_logs_state
  DEST_ARN="arn:${PARTITION}:logs:${CF_LOGS_REGION}:${ACCOUNT_ID}:delivery-destination:$(cf_destination_name "${bucket}")"
  if [[ "${legacy}" != "true" && "${realtime}" != "true" ]]; then
    ensure_destination "$(cf_destination_name "${bucket}")" "${output_format}" "${resource_arn}" "${replace}"
  fi
  for id in "${dists[@]}"; do
    arn="arn:${PARTITION}:cloudfront::${ACCOUNT_ID}:distribution/${id}"
    if [[ "${realtime}" == "true" ]]; then
      cf_attach_realtime "${id}" "${arn}" "${rt_arn}" "${take_over}" || continue
      if [[ "${CF_REALTIME_FULL}" == "true" ]]; then
        # Every request now reaches the stream: our standard logging would
        # forward each one a second time.
        cf_remove_v2 "${id}" "${arn}"
        cf_remove_legacy "${id}" "${arn}"
      else
        info "distribution ${id}: not every cache behavior carries our real-time configuration, so our standard logging (if any) is kept"
      fi
    elif [[ "${legacy}" == "true" ]]; then
      enable_legacy "${id}" "${arn}" "${take_over}" || continue
      remove_our_v2 "${id}" "${arn}"
    else
      check_legacy_in_v2_mode "${id}"
      enable_v2 "${id}" "${arn}" || continue
      if [[ "${OUR_LEGACY_ACTIVE}" == "true" ]]; then
        info "distribution ${id}: switching from legacy logging to logging v2"
        cf_remove_legacy "${id}" "${arn}"
      fi
    fi
    if [[ "${realtime}" != "true" && -n "${rt_arn}" ]]; then
      # Standard logging is in place: detach our real-time configuration, if
      # attached (switching back from --realtime).
      cf_detach_realtime "${id}" "${arn}" "${rt_arn}"
    fi
    cf_set_enabled_tag "${arn}" true
    if [[ "${CF_TAG_RESULT}" == "tagged" ]]; then
      changed
      info "distribution ${id}: tagged ${CF_TAG_KEY}=true"
    else
      info "distribution ${id}: tag ${CF_TAG_KEY}=true unchanged"
    fi
  done

  # 4. Summary.
  if ((${#SKIPPED[@]} > 0)); then
    warn "left untouched (logging configured elsewhere, see the warnings above): ${SKIPPED[*]}"
  fi
  if ((${#CF_REALTIME_SKIPPED[@]} > 0)); then
    warn "cache behaviors with their own real-time configuration left alone (see the warnings above) in: ${CF_REALTIME_SKIPPED[*]}"
  fi
  if [[ "${DRY_RUN}" == "true" ]]; then
    info "Dry run: ${CHANGES} change(s) would be made; nothing was changed."
  elif ((CHANGES == 0)); then
    info "No changes: CloudFront logging was already configured."
  else
    info "Done: ${CHANGES} change(s) made."
  fi
}

main "$@"
