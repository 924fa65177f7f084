#!/usr/bin/env bash
# .env parsing and validation for the cf-passive operator scripts.
# The .env file is read AS DATA: it is never sourced or evaluated.
# Sourced by scripts/*.sh after scripts/lib/common.sh (which sets nothing we
# need here; ROOT must be set by the sourcing script).
#
# The valid keys, their types, which are required and which are secret come
# from lambda/settings.tsv, the one list of settings (see its header): keys
# with scope function, terraform or script may be set in .env; internal keys
# are set by Terraform itself.

# Key -> type: string, number (whole, >= 0), bool, url, region, name, prefix
# or enum:a|b|c (column "type" of settings.tsv).
declare -gA ENV_TYPES=()
declare -ga ENV_REQUIRED=()
# Keys whose values are never printed.
declare -ga ENV_SECRET_KEYS=()
# Keys that are script settings, not Terraform variables.
declare -ga ENV_SCRIPT_ONLY_KEYS=()
# Keys in settings.tsv order.
declare -ga ENV_KEYS=()

declare -gA ENV_VALUES=()
declare -ga ENV_ORDER=()
declare -ga ENV_ERRORS=()
declare -ga ENV_WARNINGS=()

ENV_SETTINGS_FILE="${ENV_SETTINGS_FILE:-${ROOT}/lambda/settings.tsv}"

#######################################
# Load the key list from settings.tsv (columns: key type scope required
# secret default description; lines starting with # are comments, the first
# other line is the column header).
#######################################
env_load_settings() {
  local file="${ENV_SETTINGS_FILE}" key type scope required secret header=true
  if [[ ! -r "${file}" ]]; then
    printf '%s: ERROR: preflight: cannot read the settings list %s\n  fix: run from a complete checkout\n' \
      "${SCRIPT_NAME:-env.sh}" "${file}" >&2
    exit 1
  fi
  while IFS=$'\t' read -r key type scope required secret _; do
    [[ -z "${key}" || "${key}" == \#* ]] && continue
    if [[ "${header}" == "true" ]]; then
      header=false
      [[ "${key}" == "key" ]] && continue
    fi
    case "${scope}" in
      function | terraform | script) ;;
      *) continue ;;
    esac
    ENV_TYPES["${key}"]="${type}"
    ENV_KEYS+=("${key}")
    [[ "${required}" == "yes" ]] && ENV_REQUIRED+=("${key}")
    [[ "${secret}" == "yes" ]] && ENV_SECRET_KEYS+=("${key}")
    [[ "${scope}" == "script" ]] && ENV_SCRIPT_ONLY_KEYS+=("${key}")
  done <"${file}"
  if ((${#ENV_KEYS[@]} == 0)); then
    printf '%s: ERROR: preflight: no settings found in %s\n' "${SCRIPT_NAME:-env.sh}" "${file}" >&2
    exit 1
  fi
}
env_load_settings

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
# The known key closest to WORD (Levenshtein distance), if it is close
# enough to be a typo: at most a third of the word's length, and at most 4.
#######################################
env_closest_key() {
  printf '%s\n' "${ENV_KEYS[@]}" | awk -v w="$1" '
    function dist(a, b,    i, j, la, lb, c, d, cost, prev, cur) {
      la = length(a); lb = length(b)
      for (j = 0; j <= lb; j++) prev[j] = j
      for (i = 1; i <= la; i++) {
        cur[0] = i
        for (j = 1; j <= lb; j++) {
          cost = (substr(a, i, 1) == substr(b, j, 1)) ? 0 : 1
          d = prev[j] + 1; c = cur[j - 1] + 1
          if (c < d) d = c
          c = prev[j - 1] + cost
          if (c < d) d = c
          cur[j] = d
        }
        for (j = 0; j <= lb; j++) prev[j] = cur[j]
      }
      return prev[lb]
    }
    { d = dist(w, $0); if (best == "" || d < bestd) { best = $0; bestd = d } }
    END {
      limit = int(length(w) / 3); if (limit > 4) limit = 4
      if (best != "" && bestd <= limit) print best
    }'
}

#######################################
# Parse FILE into ENV_VALUES / ENV_ORDER; problems go to ENV_ERRORS.
# Syntax (docs/operations.md): `key=value` per line; blank lines and lines
# starting with # are ignored. The value is everything after the first `=`,
# surrounding blanks removed; it is data, never interpolated, so `$`, `$(`,
# backticks, `\` and quotes inside it are kept as written. If the value both
# starts and ends with the same quote (" or '), those two quotes are removed;
# inside double quotes \n stands for a newline and \\ for a backslash (for
# PEM text). A value that opens a quote without closing it is an error, and
# so are control characters.
#######################################
env_parse() {
  local file="$1" line key value n=0 q closest
  ENV_VALUES=()
  ENV_ORDER=()
  ENV_ERRORS=()
  ENV_WARNINGS=()
  if [[ ! -f "${file}" || ! -r "${file}" ]]; then
    ENV_ERRORS+=("cannot read ${file}")
    return 1
  fi
  local mode
  mode="$(file_mode "${file}")"
  if ((8#${mode} & 8#044)); then
    ENV_WARNINGS+=("${file} is readable by other users (mode 0${mode}) and holds the client secret; run: chmod 600 ${file}")
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
      closest="$(env_closest_key "${key}")"
      ENV_ERRORS+=("line ${n}: unknown key ${key}${closest:+ (did you mean ${closest}?)} (see .env.example for the valid keys)")
      continue
    fi
    if [[ -n "${ENV_VALUES[${key}]+x}" ]]; then
      ENV_ERRORS+=("line ${n}: duplicate key ${key}")
      continue
    fi
    # Tabs are fine; other control characters are almost always a mistake.
    if [[ "${value//$'\t'/ }" == *[[:cntrl:]]* ]]; then
      ENV_ERRORS+=("line ${n}: ${key}: value contains a control character")
      continue
    fi
    q="${value:0:1}"
    if [[ "${q}" == '"' || "${q}" == "'" ]]; then
      if ((${#value} < 2)) || [[ "${value: -1}" != "${q}" ]]; then
        ENV_ERRORS+=("line ${n}: ${key}: opening ${q} without a closing one at the end; wrap the whole value in matching quotes, or none")
        continue
      fi
      value="${value:1:${#value}-2}"
      if [[ "${q}" == '"' ]]; then
        value="${value//\\\\/$'\x01'}"
        value="${value//\\n/$'\n'}"
        value="${value//$'\x01'/\\}"
      fi
    fi
    ENV_VALUES["${key}"]="${value}"
    ENV_ORDER+=("${key}")
  done <"${file}"
  ((${#ENV_ERRORS[@]} == 0))
}

#######################################
# Validate ENV_VALUES (after env_parse); problems are appended to ENV_ERRORS.
# Values of secret keys are never quoted in a message.
#######################################
env_validate() {
  local key value type insecure shown
  for key in "${ENV_REQUIRED[@]}"; do
    if [[ -z "${ENV_VALUES[${key}]:-}" ]]; then
      ENV_ERRORS+=("${key}: required key is missing or empty")
    fi
  done
  insecure="${ENV_VALUES[allow_insecure_endpoints]:-false}"
  for key in "${ENV_ORDER[@]}"; do
    value="${ENV_VALUES[${key}]}"
    type="${ENV_TYPES[${key}]}"
    shown="'${value}'"
    env_is_secret "${key}" && shown="(secret value not shown)"
    # An empty optional value means "use the Terraform default".
    [[ -z "${value}" ]] && continue
    case "${type}" in
      string) ;;
      number)
        [[ "${value}" =~ ^[0-9]+$ ]] ||
          ENV_ERRORS+=("${key}: must be a non-negative whole number, got ${shown}")
        ;;
      bool)
        [[ "${value}" == "true" || "${value}" == "false" ]] ||
          ENV_ERRORS+=("${key}: must be true or false, got ${shown}")
        ;;
      enum:*)
        [[ "|${type#enum:}|" == *"|${value}|"* ]] ||
          ENV_ERRORS+=("${key}: must be one of ${type#enum:}, got ${shown}")
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
          ENV_ERRORS+=("${key}: ${shown} does not look like an AWS region (e.g. us-east-1)")
        ;;
      name)
        [[ "${value}" =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] ||
          ENV_ERRORS+=("${key}: must be 1-31 lowercase letters, digits or '-', got ${shown}")
        ;;
      prefix)
        [[ "${value}" == */ && "${value}" != /* && ! "${value}" =~ [[:space:]] ]] ||
          ENV_ERRORS+=("${key}: must end with '/' and not start with '/', got ${shown}")
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
  for e in "${ENV_WARNINGS[@]}"; do
    warn "read .env: ${e}"
  done
  if ((${#ENV_ERRORS[@]} > 0)); then
    for e in "${ENV_ERRORS[@]}"; do
      err "read .env (${file}): ${e}"
    done
    die "read .env" "${#ENV_ERRORS[@]} problem(s) in ${file}; nothing was written" \
      "edit ${file} (compare with .env.example) and re-run"
  fi
}
