#!/usr/bin/env bash
# Measures how fast cf-passive-lambda reads CloudFront log objects, against gunzip as
# the floor, and prints markdown tables. Prints figures only: it asserts nothing by
# time and is never run by the test suite. See docs/benchmarks.md.
#
# Backquotes in single-quoted strings are markdown code spans, not command substitutions:
# shellcheck disable=SC2016
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly CACHE="${ROOT}/.bench"
readonly DIST_ID="E27FO14I29XXXX"
readonly HOUR="2024-01-31T23"
readonly STARTUP_RUNS=20

SIZES="100MB,1GB"
SEED=20240131
BUILD=1
BIN=""
WORK=""
declare -a PIDS=()
# Results: wall seconds, CPU seconds and RSS by "size|case"; errors by "size|case".
declare -A SECS=() RSS=() CPU=() ERRS=()
# Per-size object facts.
declare -A OBJ=() RECORDS=() RAW_BYTES=()

usage() {
  cat <<USAGE
Usage: scripts/bench.sh [--sizes LIST] [--quick] [--seed N] [--no-build] [--help]

Builds the release binaries, generates (once, cached in .bench/) gzip CloudFront
log objects with cf-loggen, and prints for each size a markdown table:
  gzip -dc (the floor), process --dry-run, process into a local bridge with
  cequence_compression=gzip and =none; then the start-up time and a targets
  section. Wall and CPU (user + system) time are given as ratios to gzip -dc.

  --sizes LIST  comma-separated uncompressed sizes (default ${SIZES})
  --quick       20MB only: a fast check of the script itself
  --seed N      cf-loggen seed (default ${SEED})
  --no-build    use the binaries already built
  --help        this text

Needs /usr/bin/time (Debian package "time") and node_modules (scripts/bootstrap.sh).
Binaries are taken from \${CARGO_TARGET_DIR:-target}/release.
USAGE
}

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "${pid}" 2>/dev/null || true
    wait "${pid}" 2>/dev/null || true
  done
  if [[ -n "${WORK}" ]]; then
    rm -rf "${WORK}"
  fi
}

# now_ns: nanoseconds since the epoch.
now_ns() { date +%s%N; }

# calc EXPR: evaluates a floating-point awk expression.
calc() { awk "BEGIN { print ${1} }"; }

# first_line FILE: the first non-empty line of FILE, with '|' made safe for markdown.
first_line() {
  local line
  line="$(grep -m1 -v '^[[:space:]]*$' "$1" 2>/dev/null || true)"
  line="${line//|/\\|}"
  printf '%s' "${line:0:160}"
}

# free_port: an unused TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT: waits up to 10 s for something to listen on 127.0.0.1:PORT.
wait_port() {
  local i
  for ((i = 0; i < 100; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

parse_args() {
  while (($# > 0)); do
    case "$1" in
      --sizes)
        (($# >= 2)) || die "--sizes needs a value"
        SIZES="$2"
        shift 2
        ;;
      --quick)
        SIZES="20MB"
        shift
        ;;
      --seed)
        (($# >= 2)) || die "--seed needs a value"
        SEED="$2"
        shift 2
        ;;
      --no-build)
        BUILD=0
        shift
        ;;
      -h | --help)
        usage
        exit 0
        ;;
      *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
  done
  [[ "${SEED}" =~ ^[0-9]+$ ]] || die "--seed must be a number"
  [[ "${SIZES}" =~ ^[0-9]+[A-Za-z]*(,[0-9]+[A-Za-z]*)*$ ]] || die "bad --sizes: ${SIZES}"
}

build() {
  local pkg
  BIN="${CARGO_TARGET_DIR:-${ROOT}/target}/release"
  ((BUILD)) || return 0
  # One package at a time, so a package that does not build yet only costs its rows.
  for pkg in cf-loggen cf-passive-lambda cf-passive-testkit; do
    log "cargo build --release -p ${pkg}"
    if ! (cd "${ROOT}" && cargo build --release -p "${pkg}" >"${WORK}/build-${pkg}.log" 2>&1); then
      log "build of ${pkg} failed (its rows will be n/a): $(grep -m1 '^error' "${WORK}/build-${pkg}.log" || true)"
    fi
  done
}

# prepare SIZE: generates the object for SIZE (cached) and counts its records.
prepare() {
  local size="$1" fingerprint dir key obj
  [[ -x "${BIN}/cf-loggen" ]] || die "${BIN}/cf-loggen is missing: build it first"
  # The cache is keyed by what the generator writes, so a changed generator regenerates.
  fingerprint="$("${BIN}/cf-loggen" --seed "${SEED}" --records 200 | cksum | cut -d' ' -f1)"
  dir="${CACHE}/legacy-seed${SEED}-${size}-${fingerprint}"
  key="$("${BIN}/cf-loggen" --seed "${SEED}" --hour "${HOUR}" --distribution-id "${DIST_ID}" --gzip --print-key)"
  obj="${dir}/${key}"
  if [[ ! -s "${obj}" ]]; then
    mkdir -p "${dir}"
    log "generating ${size} (legacy, seed ${SEED}) into ${obj#"${ROOT}"/}"
    "${BIN}/cf-loggen" --seed "${SEED}" --format legacy --hour "${HOUR}" \
      --distribution-id "${DIST_ID}" --bytes "${size}" --gzip --out "${obj}.tmp"
    mv "${obj}.tmp" "${obj}"
  fi
  if [[ ! -s "${obj}.records" || ! -s "${obj}.bytes" ]]; then
    log "counting records of ${size}"
    gzip -dc "${obj}" | grep -vc '^#' >"${obj}.records"
    gzip -dc "${obj}" | wc -c | tr -d ' ' >"${obj}.bytes"
  fi
  OBJ["${size}"]="${obj}"
  RECORDS["${size}"]="$(cat "${obj}.records")"
  RAW_BYTES["${size}"]="$(cat "${obj}.bytes")"
}

# measure SIZE CASE CMD...: runs CMD (stdout to /dev/null) under /usr/bin/time and
# records its wall time and peak RSS, or the first line of its error.
measure() {
  local size="$1" name="$2" tf ef start end rc=0
  shift 2
  tf="${WORK}/time" ef="${WORK}/stderr"
  log "${size}: ${name}"
  start="$(now_ns)"
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -f '%e %M %U %S' -o "${tf}" "$@" >/dev/null 2>"${ef}" || rc=$?
  else
    "$@" >/dev/null 2>"${ef}" || rc=$?
    echo "- n/a" >"${tf}"
  fi
  end="$(now_ns)"
  if ((rc != 0)); then
    local why
    why="$(first_line "${ef}")"
    ERRS["${size}|${name}"]="exit ${rc}${why:+: ${why}}"
    return 0
  fi
  SECS["${size}|${name}"]="$(calc "(${end} - ${start}) / 1e9")"
  # /usr/bin/time's last line is "%e %M %U %S" (KiB, CPU seconds); earlier
  # lines may be warnings.
  local kib cpu
  kib="$(tail -n1 "${tf}" | awk '{ print $2 }')"
  cpu="$(tail -n1 "${tf}" | awk '$3 ~ /^[0-9.]+$/ && $4 ~ /^[0-9.]+$/ { print $3 + $4 }')"
  if [[ -n "${cpu}" ]]; then
    CPU["${size}|${name}"]="${cpu}"
  fi
  if [[ "${kib}" =~ ^[0-9]+$ ]]; then
    RSS["${size}|${name}"]="$(calc "${kib} / 1024")"
  else
    RSS["${size}|${name}"]="n/a"
  fi
}

# fail SIZE CASE REASON: records a row that could not run.
fail() { ERRS["$1|$2"]="$3"; }

# Bridge and token server, shared by every size.
BRIDGE_URL=""
TOKEN_URL=""
SERVERS_ERR=""

start_servers() {
  local line="" i port
  if [[ ! -x "${BIN}/bridge-receiver" ]]; then
    SERVERS_ERR="${BIN#"${ROOT}"/}/bridge-receiver is missing"
    return 0
  fi
  if [[ ! -x "${ROOT}/node_modules/.bin/oauth2-mock-server" ]]; then
    SERVERS_ERR="node_modules/.bin/oauth2-mock-server is missing (run scripts/bootstrap.sh)"
    return 0
  fi
  "${BIN}/bridge-receiver" --listen 127.0.0.1:0 --out /dev/null --no-memory \
    >"${WORK}/bridge.out" 2>"${WORK}/bridge.err" &
  PIDS+=("$!")
  for ((i = 0; i < 100; i++)); do
    line="$(head -n1 "${WORK}/bridge.out" 2>/dev/null || true)"
    [[ "${line}" == *"listening on "* ]] && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  if [[ "${line}" != *"listening on http://"* ]]; then
    SERVERS_ERR="bridge-receiver did not start: $(first_line "${WORK}/bridge.err")"
    return 0
  fi
  BRIDGE_URL="${line##*listening on }"
  BRIDGE_URL="${BRIDGE_URL%%[[:space:]]*}"

  port="$(free_port)"
  "${ROOT}/node_modules/.bin/oauth2-mock-server" -a 127.0.0.1 -p "${port}" \
    >"${WORK}/oauth.out" 2>&1 &
  PIDS+=("$!")
  if ! wait_port "${port}"; then
    SERVERS_ERR="oauth2-mock-server did not start: $(first_line "${WORK}/oauth.out")"
    return 0
  fi
  TOKEN_URL="http://127.0.0.1:${port}/token"
  log "bridge at ${BRIDGE_URL}, token server at ${TOKEN_URL}"
}

run_size() {
  local size="$1" obj="${OBJ[$1]}" lambda="${BIN}/cf-passive-lambda" gz
  measure "${size}" "gunzip" gzip -dc "${obj}"
  if [[ ! -x "${lambda}" ]]; then
    fail "${size}" "dry-run" "${lambda#"${ROOT}"/} is missing"
  else
    measure "${size}" "dry-run" "${lambda}" process --dry-run "${obj}"
  fi
  for gz in true false; do
    if [[ ! -x "${lambda}" ]]; then
      fail "${size}" "send gzip=${gz}" "${lambda#"${ROOT}"/} is missing"
    elif [[ -n "${SERVERS_ERR}" ]]; then
      fail "${size}" "send gzip=${gz}" "${SERVERS_ERR}"
    else
      measure "${size}" "send gzip=${gz}" env \
        cequence_client_id=bench cequence_client_secret=bench \
        cequence_auth_endpoint="${TOKEN_URL}" cequence_edge_endpoint="${BRIDGE_URL}" \
        cequence_allow_insecure_endpoints=true cequence_require_enabled_tag=false \
        cequence_log_level=warn \
        cequence_compression="$(if [[ "${gz}" == true ]]; then echo gzip; else echo none; fi)" \
        "${lambda}" process "${obj}"
    fi
  done
}

# Startup: mean milliseconds of `cf-passive-lambda --version`.
STARTUP_MS=""
STARTUP_HOW=""
STARTUP_ERR=""

measure_startup() {
  local lambda="${BIN}/cf-passive-lambda" i start end total=0
  if [[ ! -x "${lambda}" ]]; then
    STARTUP_ERR="${lambda#"${ROOT}"/} is missing"
    return 0
  fi
  if ! "${lambda}" --version >/dev/null 2>"${WORK}/version.err"; then
    STARTUP_ERR="--version failed: $(first_line "${WORK}/version.err")"
    return 0
  fi
  log "start-up: ${STARTUP_RUNS} runs of cf-passive-lambda --version"
  if command -v hyperfine >/dev/null && command -v jq >/dev/null; then
    hyperfine -N --warmup 3 --runs "${STARTUP_RUNS}" --export-json "${WORK}/hf.json" \
      "${lambda} --version" >/dev/null 2>&1
    STARTUP_MS="$(jq '.results[0].mean * 1000' "${WORK}/hf.json")"
    STARTUP_HOW="hyperfine, mean of ${STARTUP_RUNS} runs"
  else
    for ((i = 0; i < STARTUP_RUNS; i++)); do
      start="$(now_ns)"
      "${lambda}" --version >/dev/null
      end="$(now_ns)"
      total=$((total + end - start))
    done
    STARTUP_MS="$(calc "${total} / ${STARTUP_RUNS} / 1e6")"
    STARTUP_HOW="shell loop, mean of ${STARTUP_RUNS} runs, fork included"
  fi
}

print_header() {
  local cpu mem
  cpu="$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)"
  mem="$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || true)"
  cat <<HEADER
# cf-passive benchmark

- date: $(date -u '+%Y-%m-%d %H:%M UTC')
- machine: $(nproc) CPUs, ${cpu:-unknown CPU}, ${mem:-unknown} memory, $(uname -sr)
- commit: $(git -C "${ROOT}" rev-parse --short HEAD 2>/dev/null || echo unknown)
- objects: legacy format, cf-loggen seed ${SEED}, hour ${HOUR}, gzip level 6
HEADER
}

# fmt_row SIZE CASE LABEL
fmt_row() {
  local size="$1" name="$2" label="$3" k="$1|$2" secs base dry recs bytes cpu cpu_base
  if [[ -z "${SECS[${k}]:-}" ]]; then
    printf '| %s | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |\n' "${label}"
    return 0
  fi
  cpu="${CPU[${k}]:-}"
  cpu_base="${CPU[${size}|gunzip]:-}"
  secs="${SECS[${k}]}" recs="${RECORDS[${size}]}" bytes="${RAW_BYTES[${size}]}"
  base="${SECS[${size}|gunzip]:-}"
  dry="${SECS[${size}|dry-run]:-}"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${label}" "${recs}" \
    "$(calc "sprintf(\"%.2f\", ${secs})")" \
    "$(calc "sprintf(\"%.0f\", ${recs} / ${secs})")" \
    "$(calc "sprintf(\"%.1f\", ${bytes} / 1e6 / ${secs})")" \
    "$(if [[ "${RSS[${k}]}" == "n/a" ]]; then echo n/a; else calc "sprintf(\"%.1f\", ${RSS[${k}]})"; fi)" \
    "$(if [[ -n "${base}" ]]; then calc "sprintf(\"%.2f\", ${base} / ${secs})"; else echo n/a; fi)" \
    "$(if [[ -n "${dry}" && "${name}" != gunzip ]]; then calc "sprintf(\"%.2f\", ${dry} / ${secs})"; else echo -; fi)" \
    "$(if [[ -n "${cpu}" ]]; then calc "sprintf(\"%.2f\", ${cpu})"; else echo n/a; fi)" \
    "$(if [[ -n "${cpu}" && -n "${cpu_base}" ]] && calc "(${cpu} > 0) ? 1 : 0" | grep -q 1; then calc "sprintf(\"%.2f\", ${cpu_base} / ${cpu})"; else echo n/a; fi)"
}

print_size() {
  local size="$1" obj="${OBJ[$1]}" name notes=""
  printf '\n## %s object\n\n' "${size}"
  printf '`%s`: %s records, %s MB uncompressed, %s MB gzip.\n\n' "${obj#"${ROOT}"/}" \
    "${RECORDS[${size}]}" "$(calc "sprintf(\"%.1f\", ${RAW_BYTES[${size}]} / 1e6)")" \
    "$(calc "sprintf(\"%.1f\", $(stat -c %s "${obj}") / 1e6)")"
  echo '| case | records | wall s | records/s | MB/s (uncompressed) | peak RSS MiB | wall ratio to gunzip | wall ratio to dry-run | CPU s | CPU ratio to gunzip |'
  echo '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
  fmt_row "${size}" gunzip '`gzip -dc` (floor)'
  fmt_row "${size}" dry-run '`process --dry-run`'
  fmt_row "${size}" "send gzip=true" '`process` → local bridge, `cequence_compression=gzip`'
  fmt_row "${size}" "send gzip=false" '`process` → local bridge, `cequence_compression=none`'
  for name in gunzip dry-run "send gzip=true" "send gzip=false"; do
    if [[ -n "${ERRS[${size}|${name}]:-}" ]]; then
      notes+="- ${name}: n/a: ${ERRS[${size}|${name}]}"$'\n'
    fi
  done
  if [[ -n "${notes}" ]]; then
    printf '\n%s' "${notes}"
  fi
}

# num VALUE FORMAT: VALUE formatted with the printf FORMAT, or n/a when empty.
num() {
  if [[ -n "$1" ]]; then calc "sprintf(\"$2\", $1)"; else echo n/a; fi
}

# verdict OK: MET, MISSED, or "not measured" when OK is empty.
verdict() {
  case "$1" in
    1) echo MET ;;
    0) echo MISSED ;;
    *) echo "not measured" ;;
  esac
}

# ge A B: 1 if A >= B, 0 if not, empty if A is empty.
ge() {
  if [[ -n "$1" ]]; then calc "($1 >= $2) ? 1 : 0"; fi
}
lt() {
  if [[ -n "$1" ]]; then calc "($1 < $2) ? 1 : 0"; fi
}

print_targets() {
  local size largest="" dry="" send="" rss="" base s k
  for size in ${SIZES//,/ }; do largest="${size}"; done
  printf '\n## Start-up\n\n'
  if [[ -n "${STARTUP_MS}" ]]; then
    printf -- '- process start to ready (`cf-passive-lambda --version`): %s ms (%s)\n' \
      "$(calc "sprintf(\"%.1f\", ${STARTUP_MS})")" "${STARTUP_HOW}"
  else
    printf -- '- process start to ready: n/a: %s\n' "${STARTUP_ERR}"
  fi

  # Ratios: the worst over all sizes; RSS: the largest object.
  for size in ${SIZES//,/ }; do
    base="${SECS[${size}|gunzip]:-}"
    [[ -n "${base}" ]] || continue
    s="${SECS[${size}|dry-run]:-}"
    if [[ -n "${s}" ]]; then
      k="$(calc "${base} / ${s}")"
      dry="$(if [[ -z "${dry}" ]]; then echo "${k}"; else calc "(${k} < ${dry}) ? ${k} : ${dry}"; fi)"
    fi
    for s in "${SECS[${size}|send gzip=true]:-}" "${SECS[${size}|send gzip=false]:-}"; do
      [[ -n "${s}" ]] || continue
      k="$(calc "${base} / ${s}")"
      send="$(if [[ -z "${send}" ]]; then echo "${k}"; else calc "(${k} < ${send}) ? ${k} : ${send}"; fi)"
    done
  done
  for k in dry-run "send gzip=true" "send gzip=false"; do
    s="${RSS[${largest}|${k}]:-}"
    [[ -n "${s}" && "${s}" != "n/a" ]] || continue
    rss="$(if [[ -z "${rss}" ]]; then echo "${s}"; else calc "(${s} > ${rss}) ? ${s} : ${rss}"; fi)"
  done

  printf '\n## Targets\n\n'
  printf -- '- dry-run ≥ 0.5× gunzip (worst size: %s): %s\n' \
    "$(num "${dry}" "%.2f×")" "$(verdict "$(ge "${dry}" 0.5)")"
  printf -- '- full send ≥ 0.3× gunzip (worst size and setting: %s): %s\n' \
    "$(num "${send}" "%.2f×")" "$(verdict "$(ge "${send}" 0.3)")"
  local rss_note="${largest} object"
  [[ "${largest}" == "1GB" ]] || rss_note+=", the target is for the 1GB object"
  printf -- '- peak RSS < 64 MiB (%s: %s MiB): %s\n' "${rss_note}" \
    "$(num "${rss}" "%.1f")" "$(verdict "$(lt "${rss}" 64)")"
  printf -- '- start < 50 ms (%s ms): %s\n' \
    "$(num "${STARTUP_MS}" "%.1f")" "$(verdict "$(lt "${STARTUP_MS}" 50)")"
}

main() {
  parse_args "$@"
  command -v gzip >/dev/null || die "gzip is missing"
  [[ -x /usr/bin/time ]] || log "warning: /usr/bin/time is missing (apt package \"time\"): peak RSS will be n/a"
  WORK="$(mktemp -d)"
  trap cleanup EXIT
  trap 'exit 130' INT TERM

  build
  local size
  for size in ${SIZES//,/ }; do
    prepare "${size}"
  done
  start_servers
  for size in ${SIZES//,/ }; do
    run_size "${size}"
  done
  measure_startup

  print_header
  for size in ${SIZES//,/ }; do
    print_size "${size}"
  done
  print_targets
}

main "$@"
