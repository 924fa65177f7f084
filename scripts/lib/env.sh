#!/usr/bin/env bash
# .env parsing and validation for the cf-passive operator scripts.
# The .env file is read AS DATA: it is never sourced or evaluated.
# Sourced by scripts/*.sh after scripts/lib/common.sh.

# Key -> type: string, number (whole, >= 0), bool, url, region, name, prefix
# or enum:a|b|c.
declare -gA ENV_TYPES=(
  [tf_auto_approve]=bool
  [cequence_client_id]=string
  [cequence_client_secret]=string
  [cequence_auth_endpoint]=url
  [cequence_edge_endpoint]=url
  [cequence_log_level]='enum:error|warn|info|debug|trace'
  [cequence_log_format]='enum:json|text'
  [cequence_edge_path]=string
  [cequence_auth_style]='enum:basic|body'
  [cequence_batch_size]=number
  [cequence_batch_max_bytes]=number
  [cequence_gzip]=bool
  [cequence_max_in_flight]=number
  [cequence_http_timeout_s]=number
  [cequence_retry_max_elapsed_s]=number
  [cequence_inflate_thread]='enum:auto|on|off'
  [cequence_skip_extensions]=string
  [cequence_require_enabled_tag]=bool
  [cequence_tag_cache_s]=number
  [cequence_ca_cert_pem]=string
  [cequence_tls_insecure]=bool
  [allow_insecure_endpoints]=bool
  [aws_region]=region
  [name_prefix]=name
  [log_prefix]=prefix
  [log_retention_days]=number
  [log_retention_days_lambda]=number
  [legacy_logging]=bool
  [existing_bucket_name]=string
  [architecture]='enum:arm64|x86_64'
  [lambda_memory_mb]=number
  [lambda_timeout_s]=number
  [reserved_concurrency]=number
  [enable_xray]=bool
  [maximum_event_age_s]=number
  [alarm_email]=string
  [lambda_zip_path]=string
)
readonly -a ENV_REQUIRED=(
  cequence_client_id cequence_client_secret cequence_auth_endpoint
  cequence_edge_endpoint cequence_log_level
)
# Keys whose values are never printed.
readonly -a ENV_SECRET_KEYS=(cequence_client_secret)
# Keys that are script settings, not Terraform variables.
readonly -a ENV_SCRIPT_ONLY_KEYS=(tf_auto_approve)

declare -gA ENV_VALUES=()
declare -ga ENV_ORDER=()
declare -ga ENV_ERRORS=()

env_is_secret() {
  local k
  for k in "${ENV_SECRET_KEYS[@]}"; do [[ "$1" == "${k}" ]] && return 0; done
  return 1
}

env_is_script_only() {
  local k
  for k in "${ENV_SCRIPT_ONLY_KEYS[@]}"; do [[ "$1" == "${k}" ]] && return 0; done
  return 1
}

#######################################
# Parse FILE into ENV_VALUES / ENV_ORDER; problems go to ENV_ERRORS.
# Syntax: `key=value` per line; blank lines and lines starting with # are
# ignored; a value may be wrapped in matching "double" or 'single' quotes.
# In double quotes, \n is a newline and \\ a backslash (for PEM text).
#######################################
env_parse() {
  local file="$1" line key value n=0 q
  ENV_VALUES=()
  ENV_ORDER=()
  ENV_ERRORS=()
  if [[ ! -f "${file}" || ! -r "${file}" ]]; then
    ENV_ERRORS+=("cannot read ${file}")
    return 1
  fi
  while IFS= read -r line || [[ -n "${line}" ]]; do
    n=$((n + 1))
    line="${line%$'\r'}"
    # trim leading/trailing whitespace
    line="${line#"${line%%[![:space:]]*}"}"
    line="${line%"${line##*[![:space:]]}"}"
    [[ -z "${line}" || "${line}" == \#* ]] && continue
    if [[ ! "${line}" =~ ^([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=(.*)$ ]]; then
      ENV_ERRORS+=("line ${n}: expected key=value")
      continue
    fi
    key="${BASH_REMATCH[1]}"
    value="${BASH_REMATCH[2]}"
    value="${value#"${value%%[![:space:]]*}"}"
    if [[ "${key}" != "${key,,}" ]]; then
      ENV_ERRORS+=("line ${n}: key ${key} must be lowercase (did you mean ${key,,}?)")
      continue
    fi
    if [[ -z "${ENV_TYPES[${key}]+x}" ]]; then
      ENV_ERRORS+=("line ${n}: unknown key ${key} (see .env.example for the valid keys)")
      continue
    fi
    if [[ -n "${ENV_VALUES[${key}]+x}" ]]; then
      ENV_ERRORS+=("line ${n}: duplicate key ${key}")
      continue
    fi
    # shellcheck disable=SC2016  # literal $( on purpose
    if [[ "${value}" == *'$('* || "${value}" == *'`'* ]]; then
      ENV_ERRORS+=("line ${n}: ${key}: value contains \$( or a backtick; command substitution is not allowed in .env values")
      continue
    fi
    q="${value:0:1}"
    if [[ "${q}" == '"' || "${q}" == "'" ]]; then
      if ((${#value} < 2)) || [[ "${value: -1}" != "${q}" ]]; then
        ENV_ERRORS+=("line ${n}: ${key}: unbalanced quote; wrap the whole value in matching quotes or none")
        continue
      fi
      value="${value:1:${#value}-2}"
      if [[ "${value}" == *[\"\']* ]]; then
        ENV_ERRORS+=("line ${n}: ${key}: value contains an embedded quote character; quotes are not allowed inside values")
        continue
      fi
      if [[ "${q}" == '"' ]]; then
        value="${value//\\\\/$'\x01'}"
        value="${value//\\n/$'\n'}"
        value="${value//$'\x01'/\\}"
      fi
    elif [[ "${value}" == *[\"\']* ]]; then
      ENV_ERRORS+=("line ${n}: ${key}: value contains a quote character; quotes are only allowed around the whole value")
      continue
    fi
    ENV_VALUES["${key}"]="${value}"
    ENV_ORDER+=("${key}")
  done <"${file}"
  ((${#ENV_ERRORS[@]} == 0))
}

#######################################
# Validate ENV_VALUES (after env_parse); problems are appended to ENV_ERRORS.
#######################################
env_validate() {
  local key value type insecure
  for key in "${ENV_REQUIRED[@]}"; do
    if [[ -z "${ENV_VALUES[${key}]:-}" ]]; then
      ENV_ERRORS+=("${key}: required key is missing or empty")
    fi
  done
  insecure="${ENV_VALUES[allow_insecure_endpoints]:-false}"
  for key in "${ENV_ORDER[@]}"; do
    value="${ENV_VALUES[${key}]}"
    type="${ENV_TYPES[${key}]}"
    # An empty optional value means "use the Terraform default".
    [[ -z "${value}" ]] && continue
    case "${type}" in
      string) ;;
      number)
        [[ "${value}" =~ ^[0-9]+$ ]] ||
          ENV_ERRORS+=("${key}: must be a non-negative whole number, got '${value}'")
        ;;
      bool)
        [[ "${value}" == "true" || "${value}" == "false" ]] ||
          ENV_ERRORS+=("${key}: must be true or false, got '${value}'")
        ;;
      enum:*)
        [[ "|${type#enum:}|" == *"|${value}|"* ]] ||
          ENV_ERRORS+=("${key}: must be one of ${type#enum:}, got '${value}'")
        ;;
      url)
        if [[ "${value}" =~ [[:space:]] ]]; then
          ENV_ERRORS+=("${key}: must not contain whitespace")
        elif [[ "${value}" == https://?* ]]; then
          :
        elif [[ "${value}" == http://?* && "${insecure}" == "true" ]]; then
          :
        elif [[ "${value}" == http://* ]]; then
          ENV_ERRORS+=("${key}: must start with https:// (got an http:// URL; set allow_insecure_endpoints=true only for a lab bridge)")
        else
          ENV_ERRORS+=("${key}: must be an https:// URL")
        fi
        ;;
      region)
        [[ "${value}" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] ||
          ENV_ERRORS+=("${key}: '${value}' does not look like an AWS region (e.g. us-east-1)")
        ;;
      name)
        [[ "${value}" =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] ||
          ENV_ERRORS+=("${key}: must be 1-31 lowercase letters, digits or '-', got '${value}'")
        ;;
      prefix)
        [[ "${value}" == */ && "${value}" != /* && ! "${value}" =~ [[:space:]] ]] ||
          ENV_ERRORS+=("${key}: must end with '/' and not start with '/', got '${value}'")
        ;;
    esac
  done
  ((${#ENV_ERRORS[@]} == 0))
}

#######################################
# Parse and validate; on failure print every problem and exit 1.
#######################################
env_load_or_die() {
  local file="$1" e
  env_parse "${file}" || true
  env_validate || true
  if ((${#ENV_ERRORS[@]} > 0)); then
    for e in "${ENV_ERRORS[@]}"; do
      err "read .env (${file}): ${e}"
    done
    die "read .env" "${#ENV_ERRORS[@]} problem(s) in ${file}; nothing was written" \
      "edit ${file} (compare with .env.example) and re-run"
  fi
}
