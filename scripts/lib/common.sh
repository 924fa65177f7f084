#!/usr/bin/env bash
# Shared helpers for the cf-passive operator scripts.
# Sourced (never executed) by scripts/*.sh. Callers set `set -euo pipefail`.
#
# Globals used here (set by the caller):
#   DRY_RUN      true|false  print mutating calls instead of running them
#   SCRIPT_NAME  name used as the prefix of messages

# shellcheck disable=SC2034  # constants are used by the sourcing scripts
readonly CF_SOURCE_PREFIX="CequenceCloudFront-"
# shellcheck disable=SC2034
readonly CF_TAG_KEY="cequence-enabled"
# CloudWatch Logs vended delivery (CloudFront standard logging v2) lives in us-east-1.
# shellcheck disable=SC2034
readonly CF_LOGS_REGION="us-east-1"
# shellcheck disable=SC2034
readonly CF_NAME_PREFIX="cequence-cf-passive"

if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
  printf '%s: ERROR: preflight: bash %s is too old (need 4.4+ for associative arrays)\n  fix: install a newer bash (macOS: brew install bash) and run the script with it\n' \
    "$(basename "$0")" "${BASH_VERSION}" >&2
  exit 1
fi

DRY_RUN="${DRY_RUN:-false}"
SCRIPT_NAME="${SCRIPT_NAME:-$(basename "$0")}"

#######################################
# Messages. info goes to stdout, warnings and errors to stderr.
#######################################
info() { printf '%s\n' "$*"; }
warn() { printf '%s: WARNING: %s\n' "${SCRIPT_NAME}" "$*" >&2; }
err() { printf '%s: ERROR: %s\n' "${SCRIPT_NAME}" "$*" >&2; }

#######################################
# Print an error naming the failed step and the fix, then exit 1.
# Arguments: step, message, fix (optional)
#######################################
die() {
  local step="$1" msg="$2" fix="${3:-}"
  err "${step}: ${msg}"
  if [[ -n "${fix}" ]]; then
    printf '%s:   fix: %s\n' "${SCRIPT_NAME}" "${fix}" >&2
  fi
  exit 1
}

#######################################
# Quote a command line for display (shell-reusable).
#######################################
quote_cmd() {
  local out="" a
  for a in "$@"; do
    if [[ "${a}" =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then
      out+="${a} "
    else
      out+="'${a//\'/\'\\\'\'}' "
    fi
  done
  printf '%s' "${out% }"
}

#######################################
# Check required commands exist.
# Arguments: command names
#######################################
require_cmds() {
  local c missing=()
  for c in "$@"; do
    command -v "${c}" >/dev/null 2>&1 || missing+=("${c}")
  done
  if ((${#missing[@]} > 0)); then
    die "preflight" "required command(s) not found on PATH: ${missing[*]}" \
      "install them (aws CLI, jq, terraform >= 1.5) or put them on PATH"
  fi
}

#######################################
# Ask for confirmation. Returns 0 on yes.
# ASSUME_YES=true (the scripts' --yes) answers yes; tf_auto_approve never
# does, it governs Terraform only. Without a terminal the answer is read from
# standard input; when there is none (EOF), the question is refused with a
# message that names --yes.
#######################################
confirm() {
  local prompt="$1" answer=""
  if [[ "${ASSUME_YES:-false}" == "true" ]]; then
    return 0
  fi
  printf '%s [y/N] ' "${prompt}"
  if ! IFS= read -r answer; then
    printf '\n'
    err "confirm: no answer on standard input (not a terminal?); pass --yes to confirm without a prompt"
    return 1
  fi
  [[ "${answer}" =~ ^([yY]|[yY][eE][sS])$ ]]
}

#######################################
# Prepare an AWS CLI config file this script controls: a copy of the user's
# config with `cli_follow_urlparam = false` in every profile, so AWS CLI v1
# never fetches parameter values that start with http(s)://.
# Sets and exports AWS_CONFIG_FILE. Argument: work directory.
#######################################
aws_prepare_config() {
  local workdir="$1" src="${AWS_CONFIG_FILE:-${HOME:-/nonexistent}/.aws/config}"
  local dst="${workdir}/aws-config"
  if [[ -r "${src}" ]]; then
    awk '
      /^[[:space:]]*cli_follow_urlparam[[:space:]]*=/ { next }
      /^[[:space:]]*\[.*\][[:space:]]*$/ {
        print; print "cli_follow_urlparam = false"
        if ($0 ~ /^[[:space:]]*\[default\]/) seen_default = 1
        next
      }
      { print }
      END { if (!seen_default) { print "[default]"; print "cli_follow_urlparam = false" } }
    ' "${src}" >"${dst}"
  else
    printf '[default]\ncli_follow_urlparam = false\n' >"${dst}"
  fi
  export AWS_CONFIG_FILE="${dst}"
}

#######################################
# Run a read-only AWS CLI call (describe/list/get). Read calls are made even
# under --dry-run (they change nothing); under --dry-run they are printed too.
# Output: the call's JSON on stdout.
# Arguments: service operation [args...]
#######################################
aws_ro() {
  if [[ "${DRY_RUN}" == "true" ]]; then
    printf '[dry-run] read: %s\n' "$(quote_cmd aws "$@")" >&2
  fi
  aws "$@" --output json
}

#######################################
# Run a mutating AWS CLI call; under --dry-run only print it.
# Arguments: service operation [args...]
#######################################
aws_rw() {
  if [[ "${DRY_RUN}" == "true" ]]; then
    printf '[dry-run] would run: %s\n' "$(quote_cmd aws "$@")"
    return 0
  fi
  printf '+ %s\n' "$(quote_cmd aws "$@")"
  aws "$@" --output json >/dev/null
}

#######################################
# Run terraform in the repo's terraform/ directory (caller cds to the repo
# root). Mutating subcommands are only printed under --dry-run.
# Arguments: terraform subcommand and args
#######################################
tf_rw() {
  if [[ "${DRY_RUN}" == "true" ]]; then
    printf '[dry-run] would run: %s\n' "$(quote_cmd terraform -chdir=terraform "$@")"
    return 0
  fi
  printf '+ %s\n' "$(quote_cmd terraform -chdir=terraform "$@")"
  terraform -chdir=terraform "$@"
}

#######################################
# Read terraform outputs as JSON into the global TF_OUTPUTS.
# Returns 1 when there are none (never applied).
#######################################
tf_read_outputs() {
  if [[ "${DRY_RUN}" == "true" ]]; then
    printf '[dry-run] read: %s\n' "$(quote_cmd terraform -chdir=terraform output -json)" >&2
  fi
  TF_OUTPUTS="$(terraform -chdir=terraform output -json 2>/dev/null)" || return 1
  [[ -n "${TF_OUTPUTS}" ]] || return 1
  jq -e 'type == "object" and has("log_bucket_name")' <<<"${TF_OUTPUTS}" >/dev/null 2>&1
}

#######################################
# Print one terraform output value (raw string).
#######################################
tf_output() {
  # Not `// empty`: that would also drop a false value.
  jq -r --arg k "$1" '.[$k].value | if . == null then empty elif type == "string" then . else tojson end' \
    <<<"${TF_OUTPUTS}"
}

#######################################
# Name of our CloudWatch Logs delivery destination for a bucket: at most 60
# characters of [A-Za-z0-9_-], starting with cequence-cf-passive-.
#######################################
cf_destination_name() {
  local bucket="$1" name
  name="${bucket//[^A-Za-z0-9_-]/-}"
  if [[ "${name}" != "${CF_NAME_PREFIX}-"* ]]; then
    name="${CF_NAME_PREFIX}-${name}"
  fi
  printf '%s' "${name:0:60}"
}

#######################################
# Octal permission bits of a file (GNU and BSD stat).
#######################################
file_mode() {
  stat -c '%a' "$1" 2>/dev/null || stat -f '%Lp' "$1"
}

#######################################
# Validate a CloudFront distribution id (ids need not start with E).
#######################################
valid_distribution_id() {
  [[ "$1" =~ ^[A-Z0-9]{6,32}$ ]]
}
