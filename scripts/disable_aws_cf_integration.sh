#!/usr/bin/env bash
# Undo enable_aws_cf_integration.sh: remove only what it created.
set -euo pipefail
# Files this script writes (edited distribution configs) are private.
umask 077

# shellcheck disable=SC2034  # used by lib/common.sh
SCRIPT_NAME="disable_aws_cf_integration.sh"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091  # sourced by path relative to the repo root
source "${ROOT}/scripts/lib/common.sh"
# shellcheck disable=SC1091
source "${ROOT}/scripts/lib/env.sh"
# shellcheck disable=SC1091
source "${ROOT}/scripts/lib/cloudfront.sh"

usage() {
  cat <<USAGE
Usage: scripts/disable_aws_cf_integration.sh [options]

For each CloudFront distribution, removes the logging that
enable_aws_cf_integration.sh set up (our deliveries, our delivery sources
${CF_SOURCE_PREFIX}<ID>, legacy logging only when it points at our bucket,
restoring the setting recorded in the tag ${CF_ORIGINAL_LOGGING_TAG}) and
sets an existing ${CF_TAG_KEY} tag to false (a distribution without the tag
gets none). Our delivery destination is deleted once no delivery uses it.
Our real-time log configuration (Terraform's output realtime_log_config_arn)
is detached from every cache behavior that carries it; a configuration that
enable --realtime --take-over replaced (recorded in the tag
${CF_ORIGINAL_REALTIME_TAG}) is put back.
Logging set up by anyone else is left alone.

  --distribution ID   distribution to disable (repeatable; default: all, after confirmation)
  --destroy           also empty the log bucket (after confirmation) and run terraform destroy;
                      applies to all distributions. Whether the bucket is ours comes from
                      Terraform's output log_bucket_created: a bucket we did not create is
                      emptied only under the log prefix; unknown -> refused
  --realtime-config-arn ARN
                      our real-time log configuration, when Terraform's output no longer has it
  --env FILE          .env file (default: <repo>/.env; only tf_auto_approve is used)
  --yes               don't ask: confirm every question and terraform destroy -auto-approve
                      (tf_auto_approve=true in .env auto-approves Terraform only)
  --dry-run           print every mutating AWS/terraform call instead of making it
                      (read-only describe/list/get calls are still made, and printed)
  -h, --help          show this help
USAGE
}

#######################################
# Delete our delivery destination if no delivery uses it any more.
#######################################
maybe_delete_destination() {
  local name="$1" arn users
  arn="$(jq -r --arg n "${name}" '[.[] | select(.name == $n)][0].arn // empty' <<<"${CF_DESTINATIONS_JSON}")"
  if [[ -z "${arn}" ]]; then
    info "delivery destination ${name}: not present"
    return 0
  fi
  users="$(jq -r --arg a "${arn}" '[.[] | select(.deliveryDestinationArn == $a)] | length' <<<"${CF_DELIVERIES_JSON}")"
  if ((users > 0)); then
    info "delivery destination ${name}: kept, still used by ${users} delivery(ies)"
    return 0
  fi
  aws_rw logs delete-delivery-destination --region "${CF_LOGS_REGION}" --name "${name}" ||
    die "delete delivery destination ${name}" "aws logs delete-delivery-destination failed" \
      "check logs:DeleteDeliveryDestination in the deployer policy"
  changed
  info "delivery destination ${name}: deleted"
}

#######################################
# Delete every object version (and delete marker) under PREFIX in BUCKET.
#######################################
empty_bucket() {
  local bucket="$1" prefix="$2" page batch n total=0 round
  local -a filter=()
  [[ -n "${prefix}" ]] && filter+=(--prefix "${prefix}")
  # Each round lists the first page and deletes it, until nothing is left.
  for ((round = 0; round < 100000; round++)); do
    page="$(aws_ro s3api list-object-versions --bucket "${bucket}" --max-items 1000 "${filter[@]}")" ||
      die "empty bucket ${bucket}" "aws s3api list-object-versions failed" \
        "check s3:ListBucketVersions on arn:${PARTITION}:s3:::${bucket}"
    [[ -n "${page}" ]] || break
    batch="$(jq -c '{Objects: ([(.Versions // [])[], (.DeleteMarkers // [])[]] | map({Key, VersionId})), Quiet: true}' <<<"${page}")"
    n="$(jq '.Objects | length' <<<"${batch}")"
    ((n > 0)) || break
    printf '%s' "${batch}" >"${WORKDIR}/delete.json"
    aws_rw s3api delete-objects --bucket "${bucket}" --delete "file://${WORKDIR}/delete.json" ||
      die "empty bucket ${bucket}" "aws s3api delete-objects failed" \
        "check s3:DeleteObject and s3:DeleteObjectVersion on arn:${PARTITION}:s3:::${bucket}/*"
    total=$((total + n))
    [[ "${DRY_RUN}" != "true" ]] || break
  done
  if [[ "${DRY_RUN}" == "true" ]]; then
    info "bucket ${bucket}: would delete object versions${prefix:+ under ${prefix}} (first page: ${total})"
  else
    info "bucket ${bucket}: ${total} object version(s) deleted${prefix:+ under ${prefix}}"
  fi
}

main() {
  local env_file="${ROOT}/.env" destroy=false yes=false rt_arn=""
  local -a dists=()
  while (($# > 0)); do
    case "$1" in
      --distribution)
        [[ $# -ge 2 ]] || die "arguments" "--distribution needs an id" "see --help"
        valid_distribution_id "$2" || die "arguments" "'$2' is not a CloudFront distribution id" \
          "use the Id column of aws cloudfront list-distributions"
        dists+=("$2"); shift 2 ;;
      --destroy) destroy=true; shift ;;
      --realtime-config-arn)
        [[ $# -ge 2 && "$2" =~ ${CF_REALTIME_ARN_RE} ]] ||
          die "arguments" "--realtime-config-arn needs a real-time log configuration ARN (arn:aws:cloudfront::<account>:realtime-log-config/<name>)" \
            "use Terraform's output realtime_log_config_arn"
        rt_arn="$2"; shift 2 ;;
      --env) [[ $# -ge 2 ]] || die "arguments" "--env needs a file" "see --help"; env_file="$2"; shift 2 ;;
      --yes) yes=true; shift ;;
      --dry-run) DRY_RUN=true; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "arguments" "unknown argument: $1" "see --help" ;;
    esac
  done
  if [[ "${destroy}" == "true" ]] && ((${#dists[@]} > 0)); then
    die "arguments" "--destroy removes the whole deployment, so it can't be limited with --distribution" \
      "run without --distribution, or without --destroy"
  fi

  require_cmds aws jq terraform
  cd "${ROOT}"
  WORKDIR="$(mktemp -d)"
  # shellcheck disable=SC2064  # expand WORKDIR now
  trap "rm -rf '${WORKDIR}'" EXIT
  aws_prepare_config "${WORKDIR}"

  # --yes answers every question; tf_auto_approve only Terraform's.
  # shellcheck disable=SC2034  # read by confirm in lib/common.sh
  ASSUME_YES="${yes}"
  local tf_auto="${yes}"
  if [[ -f "${env_file}" ]]; then
    env_parse "${env_file}" || true
    [[ "${ENV_VALUES[tf_auto_approve]:-false}" == "true" ]] && tf_auto=true
  fi

  if ! tf_read_outputs; then
    die "read terraform outputs" "terraform -chdir=terraform output -json returned no outputs" \
      "nothing to disable if enable never ran; otherwise run terraform -chdir=terraform init first"
  fi
  local bucket all_dists=false bucket_created
  bucket="$(tf_output log_bucket_name)"
  LOG_PREFIX="$(tf_output log_prefix)"
  ACCOUNT_ID="$(tf_output account_id)"
  PARTITION="$(tf_output partition)"
  PARTITION="${PARTITION:-aws}"
  LEGACY_DOMAIN="$(tf_output legacy_logging_bucket_domain)"
  [[ -n "${LEGACY_DOMAIN}" ]] || LEGACY_DOMAIN="${bucket}.s3.amazonaws.com"
  [[ -n "${bucket}" && -n "${ACCOUNT_ID}" ]] ||
    die "read terraform outputs" "log_bucket_name or account_id is missing" "make sure terraform/ is applied"
  # Whether the bucket is ours comes from Terraform, never from .env: checked
  # before anything changes.
  bucket_created="$(tf_output log_bucket_created)"
  [[ -n "${rt_arn}" ]] || rt_arn="$(tf_output realtime_log_config_arn)"
  if [[ "${destroy}" == "true" && "${bucket_created}" != "true" && "${bucket_created}" != "false" ]]; then
    die "check bucket ownership" "Terraform's outputs don't say whether ${bucket} was created by this deployment (no log_bucket_created output); refusing to empty it; nothing changed" \
      "run terraform -chdir=terraform apply once with this version (it adds the output), or empty the bucket yourself and run terraform -chdir=terraform destroy"
  fi

  if ((${#dists[@]} == 0)); then
    all_dists=true
    cf_load_distributions
    local ids
    ids="$(cf_distribution_ids)"
    [[ -z "${ids}" ]] || mapfile -t dists <<<"${ids}"
    if ((${#dists[@]} > 0)); then
      info "Distributions in this account:"
      cf_describe_distributions "${dists[@]}"
      if [[ "${DRY_RUN}" != "true" ]] && ! confirm "Stop sending the logs of these ${#dists[@]} distribution(s) to ${bucket}?"; then
        die "confirm distributions" "not confirmed; nothing changed" \
          "answer y, pass --yes (tf_auto_approve does not answer this), or choose distributions with --distribution ID"
      fi
    fi
  fi

  cf_refresh_logs_state
  local id arn
  for id in "${dists[@]}"; do
    arn="arn:${PARTITION}:cloudfront::${ACCOUNT_ID}:distribution/${id}"
    [[ -z "${rt_arn}" ]] || cf_detach_realtime "${id}" "${arn}" "${rt_arn}"
    cf_remove_v2 "${id}" "${arn}"
    cf_remove_legacy "${id}" "${arn}"
    [[ -n "${rt_arn}" ]] || cf_warn_unknown_realtime "${id}"
    # Only a tag that is there: disable never tags a distribution that was never enabled.
    cf_set_enabled_tag "${arn}" false existing
    if [[ "${CF_TAG_RESULT}" == "tagged" ]]; then
      changed
      info "distribution ${id}: tagged ${CF_TAG_KEY}=false"
    fi
  done
  if [[ "${all_dists}" == "true" ]]; then
    # Our sources for distributions that no longer exist.
    local name
    while IFS= read -r name; do
      [[ -n "${name}" ]] || continue
      id="${name#"${CF_SOURCE_PREFIX}"}"
      info "delivery source ${name}: its distribution no longer exists; removing it"
      cf_remove_v2 "${id}" "arn:${PARTITION}:cloudfront::${ACCOUNT_ID}:distribution/${id}"
    done < <(jq -r --arg p "${CF_SOURCE_PREFIX}" '.[] | select(.name | startswith($p)) | .name' <<<"${CF_SOURCES_JSON}")
  fi
  maybe_delete_destination "$(cf_destination_name "${bucket}")"

  if [[ "${destroy}" == "true" ]]; then
    local scope="all objects in ${bucket}"
    local prefix=""
    if [[ "${bucket_created}" != "true" ]]; then
      # Never empty a bucket we didn't create: only our log prefix.
      prefix="${LOG_PREFIX}"
      scope="objects under ${LOG_PREFIX} in the existing bucket ${bucket}"
    fi
    if [[ "${DRY_RUN}" != "true" ]] && ! confirm "Permanently delete ${scope} and destroy the Terraform deployment?"; then
      die "confirm destroy" "not confirmed; logging is disabled but the deployment is kept" \
        "re-run with --destroy and answer y, or pass --yes (tf_auto_approve does not answer this)"
    fi
    empty_bucket "${bucket}" "${prefix}"
    local -a destroy_args=(destroy)
    [[ "${tf_auto}" == "true" ]] && destroy_args+=(-input=false -auto-approve)
    tf_rw "${destroy_args[@]}" ||
      die "terraform destroy" "terraform destroy failed or was declined" "read terraform's error above, fix it and re-run"
    changed
  fi

  if [[ "${DRY_RUN}" == "true" ]]; then
    info "Dry run: ${CHANGES} change(s) would be made; nothing was changed."
  elif ((CHANGES == 0)); then
    info "No changes: nothing of ours was configured."
  else
    info "Done: ${CHANGES} change(s) made."
  fi
}

main "$@"
