#!/usr/bin/env bash
# Measures the CPU and memory cf-passive-lambda needs per gigabyte of CloudFront log,
# against `gzip -dc` on the same object as the floor, and prints markdown tables.
# Prints figures only: it asserts nothing by time and is never run by the test suite.
# See docs/benchmarks.md.
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
# Lambda gives one full vCPU at 1,769 MB and a share in proportion below it.
readonly FULL_VCPU_MB=1769
# USD per GB-second (us-east-1, x86_64 and arm64, first price tier).
readonly PRICE_X86=0.0000166667
readonly PRICE_ARM=0.0000133334
# The object with a different mix: 20% static assets, a third of requests with cookies.
readonly MIX_STATIC=0.2
readonly MIX_COOKIES=0.3333

# The real-time row: one Kinesis batch of this many records, with every real-time field
# (CloudFront's list, in record order).
readonly RT_RECORDS=10000
readonly RT_FIELD_NAMES=(
  timestamp c-ip s-ip time-to-first-byte sc-status sc-bytes cs-method cs-protocol cs-host
  cs-uri-stem cs-bytes x-edge-location x-edge-request-id x-host-header time-taken
  cs-protocol-version c-ip-version cs-user-agent cs-referer cs-cookie cs-uri-query
  x-edge-response-result-type x-forwarded-for ssl-protocol ssl-cipher x-edge-result-type
  fle-encrypted-fields fle-status sc-content-type sc-content-len sc-range-start
  sc-range-end c-port x-edge-detailed-result-type c-country cs-accept-encoding cs-accept
  cache-behavior-path-pattern cs-headers cs-header-names cs-headers-count
  primary-distribution-id primary-distribution-dns-name origin-fbl origin-lbl asn
  cmcd-encoded-bitrate cmcd-buffer-length cmcd-buffer-starvation cmcd-content-id
  cmcd-object-duration cmcd-deadline cmcd-measured-throughput cmcd-next-object-request
  cmcd-next-range-request cmcd-object-type cmcd-playback-rate
  cmcd-requested-maximum-throughput cmcd-streaming-format cmcd-session-id cmcd-stream-type
  cmcd-startup cmcd-top-bitrate cmcd-version r-host sr-reason x-edge-mqcs
  distribution-tenant-id connection-id
)
RT_FIELDS="$(IFS=,; echo "${RT_FIELD_NAMES[*]}")"
readonly RT_FIELDS

SIZES="256MB"
MIX_SIZE=""
SEED=20240131
REPEAT=3
BUILD=1
BIN=""
WORK=""
declare -a PIDS=()
# Objects, by name ("<size>" or "<size>-mix"): path, records, uncompressed bytes.
declare -a OBJECTS=()
declare -A OBJ=() RECORDS=() RAW_BYTES=() MIX=()
# Results by "object|row", medians over the repetitions: CPU and wall seconds of the
# row, the CPU and wall ratios to the gunzip run just before it, the highest peak RSS.
declare -A CPU=() WALL=() CPU_RATIO=() WALL_RATIO=() RSS=() ERRS=()
# Each repetition's figures, space separated, before the median is taken.
declare -A RUN_CPU=() RUN_WALL=() RUN_CPU_RATIO=() RUN_WALL_RATIO=() RUN_RSS=()
# Real-time row: the event file, and its runs' "cpu rss" figures; RT_ERR when it cannot run.
RT_EVENT=""
RT_RUNS_CPU="" RT_RUNS_RSS="" RT_CPU="" RT_RSS="" RT_ERR=""
RT_ROW=1
# Environment names the binary understands (they changed with contract v2).
COMPRESSION_NONE=() COMPRESSION_GZIP=()
INFLATE_KNOB=0

usage() {
  cat <<USAGE
Usage: scripts/bench.sh [--sizes LIST] [--mix-size SIZE] [--repeat N] [--quick]
                        [--seed N] [--no-build] [--no-realtime] [--help]

Builds the release binaries, generates (once, cached in .bench/) gzip CloudFront log
objects with cf-loggen, and prints one markdown table per object. Each row is run right
after a \`gzip -dc\` of the same object, N times; the table shows medians:
  process --dry-run (inflate thread off, and on), process into a local bridge with
  request compression off and gzip; CPU and wall time as ratios to gzip -dc,
  CPU seconds per GB, the Lambda GB-seconds per GB, peak RSS;
then a real-time row (one Kinesis batch through the function's handler: CPU per
record), the start-up time and the goals of issue 14 with a verdict each.

  --sizes LIST     comma-separated uncompressed sizes, generator's usual mix
                   (default ${SIZES})
  --mix-size SIZE  size of the object with ${MIX_STATIC} static requests and ${MIX_COOKIES} with
                   cookies (default: the first of --sizes; 0 to skip it)
  --repeat N       runs per row pair; medians are shown (default ${REPEAT})
  --quick          20MB objects, one run each: a fast check of the script itself
  --seed N         cf-loggen seed (default ${SEED})
  --no-realtime    skip the real-time row (a Kinesis batch of ${RT_RECORDS} records through
                   \`cf-passive-lambda invoke --event\` into the local bridge)
  --no-build       use the binaries already built
  --help           this text

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

# median VALUES...: the median of the numbers given (the mean of the middle two).
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# maximum VALUES...: the largest number given.
maximum() { printf '%s\n' "$@" | sort -g | tail -n1; }

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
  local quick=0
  while (($# > 0)); do
    case "$1" in
      --sizes)
        (($# >= 2)) || die "--sizes needs a value"
        SIZES="$2"
        shift 2
        ;;
      --mix-size)
        (($# >= 2)) || die "--mix-size needs a value"
        MIX_SIZE="$2"
        shift 2
        ;;
      --repeat)
        (($# >= 2)) || die "--repeat needs a value"
        REPEAT="$2"
        shift 2
        ;;
      --quick)
        quick=1
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
      --no-realtime)
        RT_ROW=0
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
  if ((quick)); then
    SIZES="20MB" MIX_SIZE="20MB" REPEAT=1
  fi
  [[ "${SEED}" =~ ^[0-9]+$ ]] || die "--seed must be a number"
  [[ "${REPEAT}" =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive number"
  [[ "${SIZES}" =~ ^[0-9]+[A-Za-z]*(,[0-9]+[A-Za-z]*)*$ ]] || die "bad --sizes: ${SIZES}"
  MIX_SIZE="${MIX_SIZE:-${SIZES%%,*}}"
  [[ "${MIX_SIZE}" =~ ^[0-9]+[A-Za-z]*$ ]] || die "bad --mix-size: ${MIX_SIZE}"
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

# knobs: which environment names the binary reads. Contract v2 renamed cequence_gzip
# to cequence_compression=none|gzip; the inflate thread setting came with issue 14.
knobs() {
  local lambda="${BIN}/cf-passive-lambda"
  [[ -x "${lambda}" ]] || return 0
  if grep -qa 'cequence_compression' "${lambda}"; then
    COMPRESSION_NONE=(cequence_compression=none) COMPRESSION_GZIP=(cequence_compression=gzip)
  else
    COMPRESSION_NONE=(cequence_gzip=false) COMPRESSION_GZIP=(cequence_gzip=true)
  fi
  if grep -qa 'cequence_inflate_thread' "${lambda}"; then
    INFLATE_KNOB=1
  fi
}

# prepare NAME SIZE [LOGGEN FLAGS...]: generates the object NAME (cached) and counts
# its records.
prepare() {
  local name="$1" size="$2" fingerprint dir key obj
  shift 2
  [[ -x "${BIN}/cf-loggen" ]] || die "${BIN}/cf-loggen is missing: build it first"
  # The cache is keyed by what the generator writes, so a changed generator regenerates.
  fingerprint="$("${BIN}/cf-loggen" --seed "${SEED}" --records 200 "$@" | cksum | cut -d' ' -f1)"
  dir="${CACHE}/legacy-seed${SEED}-${name}-${fingerprint}"
  key="$("${BIN}/cf-loggen" --seed "${SEED}" --hour "${HOUR}" --distribution-id "${DIST_ID}" --gzip --print-key)"
  obj="${dir}/${key}"
  if [[ ! -s "${obj}" ]]; then
    mkdir -p "${dir}"
    log "generating ${name} (legacy, seed ${SEED}${*:+, $*}) into ${obj#"${ROOT}"/}"
    "${BIN}/cf-loggen" --seed "${SEED}" --format legacy --hour "${HOUR}" \
      --distribution-id "${DIST_ID}" --bytes "${size}" --gzip --out "${obj}.tmp" "$@"
    mv "${obj}.tmp" "${obj}"
  fi
  if [[ ! -s "${obj}.records" || ! -s "${obj}.bytes" ]]; then
    log "counting records of ${name}"
    gzip -dc "${obj}" | grep -vc '^#' >"${obj}.records"
    gzip -dc "${obj}" | wc -c | tr -d ' ' >"${obj}.bytes"
  fi
  OBJECTS+=("${name}")
  OBJ["${name}"]="${obj}"
  RECORDS["${name}"]="$(cat "${obj}.records")"
  RAW_BYTES["${name}"]="$(cat "${obj}.bytes")"
  MIX["${name}"]="${*:-generator default: about 40% static requests, cookies from 60% of clients}"
}

# timed OUT CMD...: runs CMD (stdout to ${TIMED_STDOUT:-/dev/null}, stderr to OUT.err) under
# /usr/bin/time; writes "wall cpu rss_mib" to OUT. Returns CMD's exit code.
timed() {
  local out="$1" start end rc=0 wall line
  shift
  start="$(now_ns)"
  /usr/bin/time -f '%U %S %M' -o "${out}.time" "$@" >"${TIMED_STDOUT:-/dev/null}" 2>"${out}.err" || rc=$?
  end="$(now_ns)"
  wall="$(calc "(${end} - ${start}) / 1e9")"
  # /usr/bin/time's last line is "%U %S %M" (KiB); earlier lines may be warnings.
  line="$(tail -n1 "${out}.time")"
  awk -v wall="${wall}" '{ printf "%s %s %s\n", wall, $1 + $2, $3 / 1024 }' <<<"${line}" >"${out}"
  return "${rc}"
}

# measure OBJECT ROW CMD...: one repetition of the pair: `gzip -dc` of the object,
# then CMD, back to back; keeps CMD's figures and its ratios to that gunzip.
measure() {
  local name="$1" row="$2" k="$1|$2" rc=0 gw gc gr rw rc_cpu rr
  shift 2
  log "${name}: ${row}"
  if ! timed "${WORK}/gunzip" gzip -dc "${OBJ[${name}]}"; then
    ERRS["${k}"]="gzip -dc failed: $(first_line "${WORK}/gunzip.err")"
    return 0
  fi
  read -r gw gc gr <"${WORK}/gunzip"
  timed "${WORK}/row" "$@" || rc=$?
  if ((rc != 0)); then
    local why
    why="$(first_line "${WORK}/row.err")"
    ERRS["${k}"]="exit ${rc}${why:+: ${why}}"
    return 0
  fi
  read -r rw rc_cpu rr <"${WORK}/row"
  RUN_CPU["${k}"]+="${rc_cpu} "
  RUN_WALL["${k}"]+="${rw} "
  RUN_RSS["${k}"]+="${rr} "
  RUN_CPU_RATIO["${k}"]+="$(calc "${rc_cpu} / (${gc} > 0 ? ${gc} : 0.001)") "
  RUN_WALL_RATIO["${k}"]+="$(calc "${rw} / ${gw}") "
  # The floor itself, for the table: every gunzip run of this object.
  RUN_CPU["${name}|gunzip"]+="${gc} "
  RUN_WALL["${name}|gunzip"]+="${gw} "
  RUN_RSS["${name}|gunzip"]+="${gr} "
}

# summarise: medians (and the highest RSS) of every row's repetitions.
summarise() {
  local k
  for k in "${!RUN_CPU[@]}"; do
    # shellcheck disable=SC2086 # word splitting of the space-separated runs is intended
    {
      CPU["${k}"]="$(median ${RUN_CPU[${k}]})"
      WALL["${k}"]="$(median ${RUN_WALL[${k}]})"
      RSS["${k}"]="$(maximum ${RUN_RSS[${k}]})"
      if [[ -n "${RUN_CPU_RATIO[${k}]:-}" ]]; then
        CPU_RATIO["${k}"]="$(median ${RUN_CPU_RATIO[${k}]})"
        WALL_RATIO["${k}"]="$(median ${RUN_WALL_RATIO[${k}]})"
      fi
    }
  done
}

# summarise_realtime: the median CPU and the highest peak RSS of the real-time runs.
summarise_realtime() {
  [[ -n "${RT_RUNS_CPU}" ]] || return 0
  # shellcheck disable=SC2086 # word splitting of the space-separated runs is intended
  {
    RT_CPU="$(median ${RT_RUNS_CPU})"
    RT_RSS="$(maximum ${RT_RUNS_RSS})"
  }
}

# fail OBJECT ROW REASON: records a row that could not run.
fail() { ERRS["$1|$2"]="$3"; }

# Bridge and token server, shared by every object.
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

# The rows, in table order: name, then label.
ROWS=()
declare -A LABEL=()
define_rows() {
  if ((INFLATE_KNOB)); then
    ROWS+=("dry-run" "dry-run thread")
    LABEL["dry-run"]='`process --dry-run`, inflate thread off'
    LABEL["dry-run thread"]='`process --dry-run`, inflate thread on'
  else
    ROWS+=("dry-run")
    LABEL["dry-run"]='`process --dry-run`'
  fi
  ROWS+=("send none" "send gzip")
  LABEL["send none"]="\`process\` → local bridge, \`${COMPRESSION_NONE[*]:-compression off}\`"
  LABEL["send gzip"]="\`process\` → local bridge, \`${COMPRESSION_GZIP[*]:-gzip}\`"
}

# run_row OBJECT ROW: one repetition of ROW on OBJECT.
run_row() {
  local name="$1" row="$2" obj="${OBJ[$1]}" lambda="${BIN}/cf-passive-lambda"
  local -a knob=()
  if [[ ! -x "${lambda}" ]]; then
    fail "${name}" "${row}" "${lambda#"${ROOT}"/} is missing"
    return 0
  fi
  case "${row}" in
    dry-run | "dry-run thread")
      if ((INFLATE_KNOB)); then
        knob=("cequence_inflate_thread=$([[ "${row}" == "dry-run" ]] && echo off || echo on)")
      fi
      measure "${name}" "${row}" env "${knob[@]}" "${lambda}" process --dry-run "${obj}"
      ;;
    "send none" | "send gzip")
      if [[ -n "${SERVERS_ERR}" ]]; then
        fail "${name}" "${row}" "${SERVERS_ERR}"
        return 0
      fi
      if [[ "${row}" == "send none" ]]; then
        knob=("${COMPRESSION_NONE[@]}")
      else
        knob=("${COMPRESSION_GZIP[@]}")
      fi
      measure "${name}" "${row}" env \
        cequence_client_id=bench cequence_client_secret=bench \
        cequence_auth_endpoint="${TOKEN_URL}" cequence_edge_endpoint="${BRIDGE_URL}" \
        cequence_allow_insecure_endpoints=true cequence_require_enabled_tag=false \
        cequence_log_level=warn "${knob[@]}" \
        "${lambda}" process "${obj}"
      ;;
  esac
}

# prepare_realtime: generates (once, cached) the Kinesis event of the real-time row.
prepare_realtime() {
  local lambda="${BIN}/cf-passive-lambda" dir
  ((RT_ROW)) || return 0
  if [[ ! -x "${lambda}" ]] || ! "${lambda}" invoke --help >/dev/null 2>&1; then
    RT_ERR="this cf-passive-lambda has no invoke subcommand"
    return 0
  fi
  dir="${CACHE}/kinesis-seed${SEED}-${RT_RECORDS}"
  RT_EVENT="${dir}/event.json"
  if [[ ! -s "${RT_EVENT}" ]]; then
    mkdir -p "${dir}"
    log "generating the Kinesis event (${RT_RECORDS} real-time records, every field)"
    if ! "${BIN}/cf-loggen" --seed "${SEED}" --kinesis-event --records "${RT_RECORDS}" \
      --realtime-fields "${RT_FIELDS}" --out "${RT_EVENT}.tmp" 2>"${WORK}/rt-gen.err"; then
      RT_ERR="cf-loggen --kinesis-event failed: $(first_line "${WORK}/rt-gen.err")"
      return 0
    fi
    mv "${RT_EVENT}.tmp" "${RT_EVENT}"
  fi
}

# run_realtime: one run of the real-time row: the event through `invoke --event`
# (the Lambda's handler) into the local bridge.
run_realtime() {
  local lambda="${BIN}/cf-passive-lambda" rc=0 wall cpu rss answer
  [[ -n "${RT_EVENT}" && -z "${RT_ERR}" ]] || return 0
  if [[ -n "${SERVERS_ERR}" ]]; then
    RT_ERR="${SERVERS_ERR}"
    return 0
  fi
  log "real-time: ${RT_RECORDS} records through invoke --event"
  TIMED_STDOUT="${WORK}/rt.out" timed "${WORK}/rt" env \
    AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
    cequence_client_id=bench cequence_client_secret=bench \
    cequence_auth_endpoint="${TOKEN_URL}" cequence_edge_endpoint="${BRIDGE_URL}" \
    cequence_allow_insecure_endpoints=true cequence_require_enabled_tag=false \
    cequence_log_level=warn cequence_realtime_fields="${RT_FIELDS}" \
    "${lambda}" invoke --event "${RT_EVENT}" || rc=$?
  if ((rc != 0)); then
    RT_ERR="exit ${rc}: $(first_line "${WORK}/rt.err")"
    return 0
  fi
  # The handler's answer must report no failed record, or the figure means nothing.
  answer="$(cat "${WORK}/rt.out")"
  if [[ "${answer}" != '{"batchItemFailures":[]}' ]]; then
    RT_ERR="the handler reported failed records: ${answer:0:160}"
    return 0
  fi
  read -r wall cpu rss <"${WORK}/rt"
  RT_RUNS_CPU+="${cpu} "
  RT_RUNS_RSS+="${rss} "
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
- machine: $(nproc) CPUs, ${cpu:-unknown CPU}, ${mem:-unknown} memory, $(uname -sr); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)
- commit: $(git -C "${ROOT}" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "${ROOT}" diff --quiet HEAD 2>/dev/null || echo " (with uncommitted changes)")
- objects: legacy format, cf-loggen seed ${SEED}, hour ${HOUR}, gzip level 6
- each row ran ${REPEAT}× right after a \`gzip -dc\` of the same object; figures are medians,
  ratios are taken per pair, peak RSS is the highest of the runs
- CPU = user + sys of the measured process only (the local bridge and token server are
  separate processes). Lambda figures come from the CPU time: at M MB (M ≤ ${FULL_VCPU_MB}) the
  function gets M/${FULL_VCPU_MB} of a vCPU, so it runs at least CPU × ${FULL_VCPU_MB}/M seconds and
  bills M/1024 GB for each: CPU × ${FULL_VCPU_MB}/1024 GB-s whatever M, which is why the two
  GB-s columns agree. Waiting on the network is not counted.
HEADER
}

# fmt VALUE FORMAT: VALUE formatted with the printf FORMAT, or n/a when empty.
fmt() {
  if [[ -n "$1" && "$1" != "n/a" ]]; then calc "sprintf(\"$2\", $1)"; else echo n/a; fi
}

# lambda_seconds OBJECT ROW MB: the shortest Lambda duration per GB of raw log at MB of
# memory, from the measured CPU time: below 1,769 MB the function gets MB/1769 of a vCPU.
lambda_seconds() {
  local k="$1|$2" mb="$3" cpu
  cpu="${CPU[${k}]:-}"
  [[ -n "${cpu}" ]] || return 0
  calc "${cpu} / (${mb} < ${FULL_VCPU_MB} ? ${mb} / ${FULL_VCPU_MB} : 1) / (${RAW_BYTES[$1]} / 1e9)"
}

# gb_seconds OBJECT ROW MB: Lambda GB-seconds per GB of raw log at MB of memory.
gb_seconds() {
  local secs
  secs="$(lambda_seconds "$@")"
  [[ -n "${secs}" ]] || return 0
  calc "${secs} * $3 / 1024"
}

# fmt_row OBJECT ROW LABEL
fmt_row() {
  local name="$1" row="$2" label="$3" k="$1|$2" gb
  if [[ -z "${CPU[${k}]:-}" ]]; then
    printf '| %s | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |\n' "${label}"
    return 0
  fi
  gb="$(calc "${RAW_BYTES[${name}]} / 1e9")"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${label}" \
    "$(fmt "${CPU[${k}]}" "%.2f")" \
    "$(fmt "${WALL[${k}]}" "%.2f")" \
    "$(if [[ "${row}" == gunzip ]]; then echo 1.00; else fmt "${CPU_RATIO[${k}]:-}" "%.2f"; fi)" \
    "$(if [[ "${row}" == gunzip ]]; then echo 1.00; else fmt "${WALL_RATIO[${k}]:-}" "%.2f"; fi)" \
    "$(fmt "$(calc "${CPU[${k}]} / ${gb}")" "%.2f")" \
    "$(fmt "$(lambda_seconds "${name}" "${row}" 128)" "%.1f")" \
    "$(fmt "$(gb_seconds "${name}" "${row}" 128)" "%.2f")" \
    "$(fmt "$(gb_seconds "${name}" "${row}" "${FULL_VCPU_MB}")" "%.2f")" \
    "$(fmt "${RSS[${k}]}" "%.1f")"
}

print_object() {
  local name="$1" obj="${OBJ[$1]}" row notes=""
  printf '\n## %s object\n\n' "${name}"
  printf '`%s`: %s records, %s MB uncompressed, %s MB gzip; mix: %s.\n\n' "${obj#"${ROOT}"/}" \
    "${RECORDS[${name}]}" "$(calc "sprintf(\"%.1f\", ${RAW_BYTES[${name}]} / 1e6)")" \
    "$(calc "sprintf(\"%.1f\", $(stat -c %s "${obj}") / 1e6)")" "${MIX[${name}]}"
  echo '| case | CPU s | wall s | CPU × gunzip | wall × gunzip | CPU s per GB | Lambda s per GB at 128 MB | GB-s per GB at 128 MB | GB-s per GB at 1,769 MB | peak RSS MiB |'
  echo '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
  fmt_row "${name}" gunzip '`gzip -dc` (floor)'
  for row in "${ROWS[@]}"; do
    fmt_row "${name}" "${row}" "${LABEL[${row}]}"
  done
  for row in "${ROWS[@]}"; do
    if [[ -n "${ERRS[${name}|${row}]:-}" ]]; then
      notes+="- ${row}: n/a: ${ERRS[${name}|${row}]}"$'\n'
    fi
  done
  if [[ -n "${CPU[${name}|send gzip]:-}" && -n "${CPU[${name}|send none]:-}" ]]; then
    notes+="- request gzip costs $(fmt "$(calc "(${CPU[${name}|send gzip]} - ${CPU[${name}|send none]}) / (${RAW_BYTES[${name}]} / 1e9)")" "%.2f") extra CPU seconds per GB of log"$'\n'
  fi
  local gbs
  gbs="$(gb_seconds "${name}" "send none" 128)"
  if [[ -n "${gbs}" ]]; then
    notes+="- at these figures 1 TB of log costs $(fmt "$(calc "${gbs} * 1000 * ${PRICE_X86}")" "%.2f") USD of Lambda duration (x86_64; arm64 $(fmt "$(calc "${gbs} * 1000 * ${PRICE_ARM}")" "%.2f") USD), sending with compression off"$'\n'
  fi
  if [[ -n "${notes}" ]]; then
    printf '\n%s' "${notes}"
  fi
}

# print_realtime: CPU per record of the Kinesis batch, next to the standard-log send rows.
print_realtime() {
  local name k
  ((RT_ROW)) || return 0
  printf '\n## Real-time: one Kinesis batch through the handler\n\n'
  printf '`cf-passive-lambda invoke --event` (the Lambda'"'"'s handler, built as the Lambda builds it) on\n'
  printf 'a Kinesis event of %s real-time records with all %s fields (`cf-loggen --kinesis-event`),\n' \
    "${RT_RECORDS}" "${#RT_FIELD_NAMES[@]}"
  printf 'into the local bridge; %s runs, median CPU. The standard-log rows are the send rows above,\n' "${REPEAT}"
  printf 'per log record (static requests included, as in the real-time batch).\n\n'
  echo '| case | records | CPU s | CPU µs per record | records per CPU-second | peak RSS MiB |'
  echo '|---|---:|---:|---:|---:|---:|'
  if [[ -n "${RT_CPU}" ]]; then
    printf '| real-time: `invoke --event`, Kinesis batch → local bridge | %s | %s | %s | %s | %s |\n' \
      "${RT_RECORDS}" "$(fmt "${RT_CPU}" "%.3f")" \
      "$(fmt "$(calc "${RT_CPU} / ${RT_RECORDS} * 1e6")" "%.1f")" \
      "$(fmt "$(calc "${RT_RECORDS} / (${RT_CPU} > 0 ? ${RT_CPU} : 0.001)")" "%.0f")" \
      "$(fmt "${RT_RSS}" "%.1f")"
  else
    printf '| real-time: `invoke --event`, Kinesis batch → local bridge | %s | n/a | n/a | n/a | n/a |\n' "${RT_RECORDS}"
  fi
  for name in "${OBJECTS[@]}"; do
    k="${name}|send none"
    [[ -n "${CPU[${k}]:-}" ]] || continue
    printf '| standard log %s: `process` → local bridge, compression off | %s | %s | %s | %s | %s |\n' \
      "${name}" "${RECORDS[${name}]}" "$(fmt "${CPU[${k}]}" "%.2f")" \
      "$(fmt "$(calc "${CPU[${k}]} / ${RECORDS[${name}]} * 1e6")" "%.1f")" \
      "$(fmt "$(calc "${RECORDS[${name}]} / ${CPU[${k}]}")" "%.0f")" \
      "$(fmt "${RSS[${k}]}" "%.1f")"
  done
  if [[ -n "${RT_ERR}" ]]; then
    printf '\n- real-time: n/a: %s\n' "${RT_ERR}"
  fi
}

# verdict OK: MET, MISSED, or "not measured" when OK is empty.
verdict() {
  case "$1" in
    1) echo MET ;;
    0) echo MISSED ;;
    *) echo "not measured" ;;
  esac
}

# le A B: 1 if A <= B, 0 if not, empty if A is empty.
le() {
  if [[ -n "$1" ]]; then calc "($1 <= $2) ? 1 : 0"; fi
}
lt() {
  if [[ -n "$1" ]]; then calc "($1 < $2) ? 1 : 0"; fi
}

# worst ROW: the highest CPU ratio of ROW over all objects, with the object's name.
worst() {
  local name v best="" where=""
  for name in "${OBJECTS[@]}"; do
    v="${CPU_RATIO[${name}|$1]:-}"
    [[ -n "${v}" ]] || continue
    if [[ -z "${best}" ]] || (($(calc "(${v} > ${best}) ? 1 : 0"))); then
      best="${v}" where="${name}"
    fi
  done
  printf '%s %s' "${best}" "${where}"
}

print_goals() {
  local dry dry_at send send_at name v rss="" rss_at="" extra=""
  printf '\n## Start-up\n\n'
  if [[ -n "${STARTUP_MS}" ]]; then
    printf -- '- process start to ready (`cf-passive-lambda --version`): %s ms (%s): %s (< 50 ms)\n' \
      "$(fmt "${STARTUP_MS}" "%.1f")" "${STARTUP_HOW}" "$(verdict "$(lt "${STARTUP_MS}" 50)")"
  else
    printf -- '- process start to ready: n/a: %s\n' "${STARTUP_ERR}"
  fi

  read -r dry dry_at <<<"$(worst dry-run)"
  read -r send send_at <<<"$(worst "send none")"
  for name in "${OBJECTS[@]}"; do
    for v in "send none" "send gzip"; do
      v="${RSS[${name}|${v}]:-}"
      [[ -n "${v}" ]] || continue
      if [[ -z "${rss}" ]] || (($(calc "(${v} > ${rss}) ? 1 : 0"))); then
        rss="${v}" rss_at="${name}"
      fi
    done
    if [[ -n "${CPU[${name}|send gzip]:-}" && -n "${CPU[${name}|send none]:-}" ]]; then
      extra+="${extra:+, }${name}: $(fmt "$(calc "(${CPU[${name}|send gzip]} - ${CPU[${name}|send none]}) / (${RAW_BYTES[${name}]} / 1e9)")" "%.2f") s"
    fi
  done

  printf '\n## Goals (issue 14)\n\n'
  printf -- '- dry run CPU ≤ 1.25× gunzip (worst object: %s, %s): %s; moonshot ≤ 1.0×: %s\n' \
    "$(fmt "${dry:-}" "%.2f×")" "${dry_at:-n/a}" "$(verdict "$(le "${dry:-}" 1.25)")" \
    "$(verdict "$(le "${dry:-}" 1.0)")"
  printf -- '- sending, compression off: sender CPU ≤ 1.6× gunzip (worst object: %s, %s): %s\n' \
    "$(fmt "${send:-}" "%.2f×")" "${send_at:-n/a}" "$(verdict "$(le "${send:-}" 1.6)")"
  printf -- '- request gzip: extra CPU per GB of log (reported, no goal): %s\n' "${extra:-n/a}"
  printf -- '- peak RSS ≤ 32 MiB while sending (highest: %s MiB, %s): %s\n' \
    "$(fmt "${rss}" "%.1f")" "${rss_at:-n/a}" "$(verdict "$(le "${rss}" 32)")"
}

main() {
  parse_args "$@"
  command -v gzip >/dev/null || die "gzip is missing"
  [[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt package \"time\")"
  WORK="$(mktemp -d)"
  trap cleanup EXIT
  trap 'exit 130' INT TERM

  build
  knobs
  define_rows
  local size name row i
  for size in ${SIZES//,/ }; do
    prepare "${size}" "${size}"
  done
  if [[ "${MIX_SIZE}" != 0 ]]; then
    prepare "${MIX_SIZE}-mix" "${MIX_SIZE}" --static-share "${MIX_STATIC}" --cookie-share "${MIX_COOKIES}"
  fi
  prepare_realtime
  start_servers
  for name in "${OBJECTS[@]}"; do
    for ((i = 1; i <= REPEAT; i++)); do
      for row in "${ROWS[@]}"; do
        run_row "${name}" "${row}"
      done
    done
  done
  for ((i = 1; i <= REPEAT; i++)); do
    run_realtime
  done
  summarise
  summarise_realtime
  measure_startup

  print_header
  for name in "${OBJECTS[@]}"; do
    print_object "${name}"
  done
  print_realtime
  print_goals
}

main "$@"
