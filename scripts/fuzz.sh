#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ for a bounded time each and prints
# their figures (docs/fuzzing.md). Installs cargo-fuzz when it is missing.
# Corpora grow in fuzz/corpus/<target>/ (git-ignored), seeded from
# fuzz/seeds/; a crash is saved under fuzz/artifacts/<target>/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly FUZZ_DIR="${ROOT}/fuzz"
readonly ALL_TARGETS=(raw gzip keyed)

usage() {
  cat <<USAGE
Usage: scripts/fuzz.sh [--minutes N] [--sanitizer none|address] [--keep-going] [--dry-run] [TARGET...]

Runs each TARGET (default: ${ALL_TARGETS[*]}) for N minutes (default 2),
one after the other, then prints target, minutes, executions, exec/s,
corpus size and findings. Exits non-zero if any target found a crash.

  --minutes N        minutes per target (whole number, default 2)
  --sanitizer S      none (default: fastest) or address (cargo-fuzz's own
                     default; slower, also checks unsafe code in dependencies)
  --keep-going       do not stop at the first crash (libFuzzer fork mode):
                     every crash is saved and the run lasts its minutes
  --dry-run          print the commands without running them
  -h, --help         this text

The stable toolchain runs cargo-fuzz with RUSTC_BOOTSTRAP=1 (it passes
-Z flags). Transactions are validated against the v2 JSON Schema when
docs/schema/ holds a *transaction*.json file (cargo feature "schema").
FUZZ_CODEGEN_UNITS (default 16) trades run speed for build time.
USAGE
}

die() {
  echo "fuzz.sh: $*" >&2
  exit 2
}

run() {
  if [[ "${DRY_RUN}" == true ]]; then
    printf '+'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

ensure_cargo_fuzz() {
  if cargo fuzz --version >/dev/null 2>&1; then
    return 0
  fi
  echo "cargo-fuzz is missing: installing it from crates.io" >&2
  run cargo install cargo-fuzz --locked
}

# A libFuzzer figure from the log: the final stats ("stat::average_exec_per_sec:
# 1234"), else (fork mode) the last status line ("#5000: ... time: 60s ...").
stat_of() {
  local name="$1" log="$2" value
  value="$(sed -n "s/^stat::${name}: *//p" "${log}" | tail -n 1)"
  if [[ -z "${value}" ]]; then
    case "${name}" in
      number_of_executed_units) value="$(sed -n 's/^#\([0-9]*\):.* exec\/s:.*/\1/p' "${log}" | tail -n 1)" ;;
      average_exec_per_sec)
        # The status line's exec/s is the last job's; average over the run.
        value="$(sed -n 's/^#\([0-9]*\):.* time: \([0-9]*\)s.*/\1 \2/p' "${log}" | tail -n 1 |
          awk '$2 > 0 { printf "%d", $1 / $2 }')"
        ;;
    esac
  fi
  printf '%s' "${value:--}"
}

main() {
  local minutes=2 sanitizer=none
  local -a targets=() keep_going=()
  DRY_RUN=false
  while (($#)); do
    case "$1" in
      -h | --help) usage; return 0 ;;
      --minutes)
        [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || die "--minutes needs a whole number of minutes"
        minutes="$2"
        shift
        ;;
      --sanitizer)
        [[ "${2:-}" =~ ^(none|address)$ ]] || die "--sanitizer is none or address"
        sanitizer="$2"
        shift
        ;;
      --keep-going) keep_going=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1) ;;
      --dry-run) DRY_RUN=true ;;
      -*) die "unknown option $1 (see --help)" ;;
      *)
        local known=false t
        for t in "${ALL_TARGETS[@]}"; do [[ "$1" == "${t}" ]] && known=true; done
        [[ "${known}" == true ]] || die "unknown target $1 (targets: ${ALL_TARGETS[*]})"
        targets+=("$1")
        ;;
    esac
    shift
  done
  ((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")

  ensure_cargo_fuzz
  # cargo-fuzz passes -Z flags to rustc; stable accepts them only so.
  if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
  fi
  local -a build_args=(--fuzz-dir "${FUZZ_DIR}" --sanitizer "${sanitizer}"
    --codegen-units "${FUZZ_CODEGEN_UNITS:-16}")
  if compgen -G "${ROOT}/docs/schema/*transaction*.json" >/dev/null; then
    build_args+=(--features schema)
    echo "validating transactions against $(compgen -G "${ROOT}/docs/schema/*transaction*.json" | head -n 1)" >&2
  else
    echo "no docs/schema/*transaction*.json yet: the JSON Schema check is off" >&2
  fi

  cd "${ROOT}"
  local -a rows=()
  local failed=0 target
  for target in "${targets[@]}"; do
    local corpus="${FUZZ_DIR}/corpus/${target}" artifacts="${FUZZ_DIR}/artifacts/${target}"
    local log="${FUZZ_DIR}/artifacts/${target}.log"
    run mkdir -p "${corpus}" "${artifacts}"
    echo "==> ${target}: ${minutes} min" >&2
    local rc=0 before
    before="$({ find "${artifacts}" -type f 2>/dev/null || true; } | wc -l)"
    if [[ "${DRY_RUN}" == true ]]; then
      run cargo fuzz run "${build_args[@]}" "${target}" "${corpus}" "${FUZZ_DIR}/seeds" -- \
        -dict="${FUZZ_DIR}/dict/cloudfront.dict" -max_total_time=$((minutes * 60)) \
        -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="${artifacts}/" "${keep_going[@]}"
      continue
    fi
    cargo fuzz run "${build_args[@]}" "${target}" "${corpus}" "${FUZZ_DIR}/seeds" -- \
      -dict="${FUZZ_DIR}/dict/cloudfront.dict" -max_total_time=$((minutes * 60)) \
      -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="${artifacts}/" "${keep_going[@]}" >"${log}" 2>&1 || rc=$?
    local findings
    findings=$(($(find "${artifacts}" -type f | wc -l) - before))
    if ((rc != 0 || findings > 0)); then
      failed=1
      echo "${target}: exit ${rc}; see ${log} and ${artifacts}/" >&2
      tail -n 30 "${log}" >&2
    fi
    rows+=("$(printf '%-6s %7s %12s %8s %7s %8s' "${target}" "${minutes}" \
      "$(stat_of number_of_executed_units "${log}")" \
      "$(stat_of average_exec_per_sec "${log}")" \
      "$(find "${corpus}" -type f | wc -l)" "${findings}")")
  done
  if [[ "${DRY_RUN}" == false ]]; then
    printf '%-6s %7s %12s %8s %7s %8s\n' target minutes executions exec/s corpus findings
    printf '%s\n' "${rows[@]}"
  fi
  return "${failed}"
}

main "$@"
