#!/usr/bin/env bash
# The whole pipeline on one machine, no AWS account: moto (S3, CloudFront,
# Kinesis), an OAuth token server and the bridge receiver on 127.0.0.1, and
# the Lambda binary served by the Lambda runtime API of `cargo lambda watch`,
# invoked with real S3 events for bundled sample logs and with a Kinesis event
# of real-time log lines read back from a stream. Prints what CloudWatch and
# the bridge would show; exits 0 only if the bridge received exactly the
# transactions a dry run of the same objects and lines produces for the
# enabled distributions.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly DEMO="${ROOT}/.demo"
readonly BUCKET="cequence-cf-passive-demo"
readonly PREFIX="cloudfront-logs"
readonly ACCOUNT="123456789012" # moto's default account
readonly FUNCTION="cf-passive-lambda"
readonly STREAM="cequence-cf-passive-demo-realtime"
readonly SHARD="shardId-000000000000"
PIDS=()
QUIET=false
BUILD=true

usage() {
  cat <<USAGE
Usage: scripts/demo.sh [--quiet] [--no-build] [--help]

Installs what it needs (scripts/bootstrap.sh), builds the binaries, starts
moto, oauth2-mock-server, bridge-receiver and the Lambda runtime API of
'cargo lambda watch' on 127.0.0.1, runs the Lambda binary against it,
uploads sample logs of every supported format, invokes the Lambda with S3
events, then puts real-time log lines on a Kinesis stream, reads them back
and invokes the Lambda with the Kinesis event; prints the results and stops
everything it started. Work files and logs go to .demo/ (git-ignored).

The build is the test suite's: 'cargo test --workspace --no-run', so the
demo, the tests and target/debug/cf-passive-lambda share one compilation.
The first build takes about 13 minutes and 2.8 GB on 2 cores.

  --quiet     print at most 20 lines of the Lambda's log
  --no-build  use the binaries already in target/debug (scripts/test.sh
              builds them first)
USAGE
}

# Bold headings only on a terminal, and never with NO_COLOR set.
if [[ -t 2 && -z "${NO_COLOR:-}" ]]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
else
  say() { printf '\n== %s\n' "$*" >&2; }
fi
die() {
  printf 'demo: %s\n' "$*" >&2
  exit 1
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    # Each server runs in its own process group (setsid): stop the group,
    # which includes the cargo/function children of 'cargo lambda watch'.
    kill -TERM -- "-${pid}" 2>/dev/null || kill -TERM "${pid}" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "${pid}" 2>/dev/null || true
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start NAME LOGFILE COMMAND...: runs a server in its own process group.
start() {
  local name="$1" logfile="$2"
  shift 2
  setsid "$@" >"${logfile}" 2>&1 &
  PIDS+=("$!")
  printf '  started %-18s pid %s\n' "${name}" "$!" >&2
}

wait_for() {
  local what="$1" tries=0
  shift
  until "$@" >/dev/null 2>&1; do
    tries=$((tries + 1))
    ((tries < 600)) || die "${what} did not become ready (see ${DEMO}/*.log)"
    sleep 0.2
  done
}

aws_cli() { "${ROOT}/.venv/bin/aws" "$@"; }

create_distribution() {
  local reference="$1" enabled="$2" config id
  config="$(jq -n --arg ref "${reference}" '{
    CallerReference: $ref, Comment: "cf-passive demo", Enabled: true,
    Origins: {Quantity: 1, Items: [{Id: "api", DomainName: "api.example.com",
      CustomOriginConfig: {HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: "https-only"}}]},
    DefaultCacheBehavior: {TargetOriginId: "api", ViewerProtocolPolicy: "redirect-to-https",
      ForwardedValues: {QueryString: true, Cookies: {Forward: "all"}}, MinTTL: 0,
      TrustedSigners: {Enabled: false, Quantity: 0}}}')"
  id="$(aws_cli cloudfront create-distribution --distribution-config "${config}" | jq -r .Distribution.Id)"
  aws_cli cloudfront tag-resource --resource "arn:aws:cloudfront::${ACCOUNT}:distribution/${id}" \
    --tags "$(jq -n --arg v "${enabled}" '{Items: [{Key: "cequence-enabled", Value: $v}]}')"
  printf '%s' "${id}"
}

# s3_record KEY SIZE: one S3 ObjectCreated record, complete as S3 sends it.
s3_record() {
  local key="$1" size="$2" encoded
  encoded="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote_plus(sys.argv[1], safe="/"))' "${key}")"
  jq -n --arg bucket "${BUCKET}" --arg key "${encoded}" --argjson size "${size}" '{
    eventVersion: "2.1", eventSource: "aws:s3", awsRegion: "us-east-1",
    eventTime: "2024-02-01T00:00:00.000Z", eventName: "ObjectCreated:Put",
    userIdentity: {principalId: "AWS:DEMO"}, requestParameters: {sourceIPAddress: "127.0.0.1"},
    responseElements: {"x-amz-request-id": "DEMO", "x-amz-id-2": "DEMO"},
    s3: {s3SchemaVersion: "1.0", configurationId: "cequence",
      bucket: {name: $bucket, ownerIdentity: {principalId: "DEMO"}, arn: ("arn:aws:s3:::" + $bucket)},
      object: {key: $key, size: $size, eTag: "0", sequencer: "0"}}}'
}

upload() {
  local file="$1" key="$2"
  aws_cli s3api put-object --bucket "${BUCKET}" --key "${key}" --body "${file}" >/dev/null
  UPLOADED_KEYS+=("${key}")
  UPLOADED_FILES+=("${file}")
  printf '  s3://%s/%s (%s bytes)\n' "${BUCKET}" "${key}" "$(stat -c %s "${file}")" >&2
}

invoke() {
  local event_file="$1"
  # With --only-lambda-apis the runtime API serves one function, named "_".
  PATH="${ROOT}/.venv/bin:${PATH}" timeout "${2:-300}" cargo lambda invoke -A 127.0.0.1 -P "${LAMBDA_PORT}" \
    _ --data-file "${event_file}"
}

# put_lines FILE: one Kinesis record per line of FILE (PutRecords takes 500).
put_lines() {
  local file="$1" part
  split -l 500 -d "${file}" "${file}.part-"
  for part in "${file}".part-*; do
    jq -Rn --arg stream "${STREAM}" \
      '{StreamName: $stream, Records: [inputs | {Data: (. + "\n"), PartitionKey: "demo"}]}' \
      "${part}" >"${part}.json"
    aws_cli kinesis put-records --cli-input-json "file://${part}.json" |
      jq -e '.FailedRecordCount == 0' >/dev/null || die "PutRecords failed for ${part}"
    rm -f "${part}" "${part}.json"
  done
}

# read_shard OUT: every record of the shard, read back with GetRecords, as
# the Lambda event of a Kinesis event source mapping.
read_shard() {
  local out="$1" arn iterator page
  arn="$(aws_cli kinesis describe-stream-summary --stream-name "${STREAM}" |
    jq -r .StreamDescriptionSummary.StreamARN)"
  iterator="$(aws_cli kinesis get-shard-iterator --stream-name "${STREAM}" --shard-id "${SHARD}" \
    --shard-iterator-type TRIM_HORIZON | jq -r .ShardIterator)"
  : >"${out}.records"
  while :; do
    page="$(aws_cli kinesis get-records --shard-iterator "${iterator}" --limit 10000)"
    jq -c '.Records[]' <<<"${page}" >>"${out}.records"
    # moto keeps handing out iterators: an empty page means the shard is read.
    [[ "$(jq '.Records | length' <<<"${page}")" != 0 ]] || break
    iterator="$(jq -r .NextShardIterator <<<"${page}")"
  done
  jq -s --arg arn "${arn}" --arg shard "${SHARD}" '{Records: [.[] | {
    kinesis: {kinesisSchemaVersion: "1.0", partitionKey: .PartitionKey, sequenceNumber: .SequenceNumber,
      data: .Data, approximateArrivalTimestamp: .ApproximateArrivalTimestamp},
    eventSource: "aws:kinesis", eventVersion: "1.0", eventID: ($shard + ":" + .SequenceNumber),
    eventName: "aws:kinesis:record", invokeIdentityArn: "arn:aws:iam::123456789012:role/demo",
    awsRegion: "us-east-1", eventSourceARN: $arn}]}' "${out}.records" >"${out}"
  rm -f "${out}.records"
}

# canonical: transactions as sorted, key-sorted JSON lines, without the
# log-object (a file's path in a dry run, kinesis://stream/shard under Lambda).
canonical() {
  jq -cS 'del(.["txn-meta-data"].cloudfront["log-object"])' | sort
}

# explain_result JSON: the Lambda's answer to one event, in words.
explain_result() {
  jq -r '"  \(.objects) object(s) in the event: \(.transactions) transactions forwarded, " +
    "\(.skipped) skipped as not a log, \(.unreadable) unreadable; " +
    "\(.ignored) record(s) that are not S3 object events ignored"' <<<"$1" >&2
}

main() {
  while (($# > 0)); do
    case "$1" in
      --help | -h) usage; return 0 ;;
      --quiet) QUIET=true ;;
      --no-build) BUILD=false ;;
      *) usage >&2; return 2 ;;
    esac
    shift
  done
  # Plain log files: no colour codes from any tool we start.
  export NO_COLOR=1 CARGO_TERM_COLOR=never RUST_LOG_STYLE=never
  cd "${ROOT}"
  trap cleanup EXIT
  rm -rf "${DEMO}"
  mkdir -p "${DEMO}/objects"

  say "Installing tools"
  scripts/bootstrap.sh
  if [[ "${BUILD}" == true ]]; then
    if [[ ! -x target/debug/cf-passive-lambda ]]; then
      say "Building (first build: about 13 minutes and 2.8 GB on 2 cores; cargo shows its progress)"
    else
      say "Building (cargo test --workspace --no-run: the build the tests use)"
    fi
    cargo test --workspace --locked --no-run
  fi
  local binary
  for binary in cf-passive-lambda bridge-receiver cf-loggen; do
    [[ -x "target/debug/${binary}" ]] || die "target/debug/${binary} is missing: run without --no-build"
  done

  say "Starting servers on 127.0.0.1"
  local moto_port oauth_port bridge_port
  moto_port="$(free_port)"
  oauth_port="$(free_port)"
  LAMBDA_PORT="$(free_port)"
  start moto "${DEMO}/moto.log" .venv/bin/moto_server -H 127.0.0.1 -p "${moto_port}"
  start oauth2-mock-server "${DEMO}/oauth.log" node_modules/.bin/oauth2-mock-server -a 127.0.0.1 -p "${oauth_port}"
  start bridge-receiver "${DEMO}/bridge.log" target/debug/bridge-receiver --listen 127.0.0.1:0 \
    --out "${DEMO}/received.ndjson"
  wait_for "the bridge receiver" grep -q '^listening on' "${DEMO}/bridge.log"
  bridge_port="$(sed -n 's|^listening on https\{0,1\}://127.0.0.1:\([0-9]*\).*|\1|p' "${DEMO}/bridge.log" | head -n1)"
  wait_for moto curl -fsS "http://127.0.0.1:${moto_port}/moto-api/"
  wait_for "the OAuth server" curl -fsS "http://127.0.0.1:${oauth_port}/.well-known/openid-configuration"

  export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
  export AWS_ENDPOINT_URL="http://127.0.0.1:${moto_port}"
  export AWS_CONFIG_FILE="${DEMO}/aws-config"
  printf '[default]\ncli_follow_urlparam = false\n' >"${AWS_CONFIG_FILE}"

  say "Creating the log bucket, three distributions and a Kinesis stream in moto"
  aws_cli s3api create-bucket --bucket "${BUCKET}" >/dev/null
  aws_cli kinesis create-stream --stream-name "${STREAM}" --shard-count 1
  local legacy_id json_id disabled_id
  legacy_id="$(create_distribution demo-legacy true)"
  json_id="$(create_distribution demo-json true)"
  disabled_id="$(create_distribution demo-disabled false)"
  printf '  %s  cequence-enabled=true  (legacy W3C logs)\n' "${legacy_id}" >&2
  printf '  %s  cequence-enabled=true  (v2 JSON logs, Hive path)\n' "${json_id}" >&2
  printf '  %s  cequence-enabled=false (v2 W3C logs: must not be forwarded)\n' "${disabled_id}" >&2
  printf '  %s (one shard) for real-time logs\n' "${STREAM}" >&2
  # Every field CloudFront can write; the function gets the same list.
  local realtime_fields
  realtime_fields="$(target/debug/cf-loggen --print-realtime-fields --realtime-fields all)"

  say "Uploading sample logs"
  UPLOADED_KEYS=()
  UPLOADED_FILES=()
  local fixtures="tests/fixtures" o="${DEMO}/objects"
  gzip -nc "${fixtures}/E2EXAMPLE1.2024-01-31-23.a1b2c3d4" >"${o}/legacy.gz"
  upload "${o}/legacy.gz" "${PREFIX}/${legacy_id}.2024-01-31-23.a1b2c3d4.gz"
  target/debug/cf-loggen --seed 42 --format legacy --records 20000 --gzip --gzip-members 2 --out "${o}/generated.gz"
  upload "${o}/generated.gz" "${PREFIX}/${legacy_id}.2024-01-31-22.generated.gz"
  gzip -nc "${fixtures}/AWSLogs/aws-account-id=123456789012/CloudFront/DistributionId=E3JSONEXAMPLE/year=2024/month=01/day=31/hour=23/log-0001" >"${o}/json.gz"
  upload "${o}/json.gz" "${PREFIX}/AWSLogs/aws-account-id=${ACCOUNT}/CloudFront/DistributionId=${json_id}/year=2024/month=01/day=31/hour=23/log 0001.gz"
  cp "${fixtures}/cloudfront-logs/E4W3CEXAMPLE/2024/01/31/23/log-0001" "${o}/w3c.log"
  upload "${o}/w3c.log" "${PREFIX}/${disabled_id}/2024/01/31/23/log-0001"
  : >"${o}/empty"
  aws_cli s3api put-object --bucket "${BUCKET}" --key "${PREFIX}/" --body "${o}/empty" >/dev/null
  printf '  s3://%s/%s/ (a console folder marker)\n' "${BUCKET}" "${PREFIX}" >&2

  say "Starting the Lambda: the built binary, served by cargo lambda's runtime API"
  # --only-lambda-apis: cargo lambda emulates the Lambda service and does not
  # compile anything; the function is the binary built above.
  start "lambda runtime API" "${DEMO}/runtime-api.log" env PATH="${ROOT}/.venv/bin:${PATH}" \
    cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P "${LAMBDA_PORT}"
  wait_for "the Lambda runtime API" grep -q 'starting Runtime server' "${DEMO}/runtime-api.log"
  start "cf-passive-lambda" "${DEMO}/lambda.log" env \
    AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:${LAMBDA_PORT}/.rt" \
    AWS_LAMBDA_FUNCTION_NAME="${FUNCTION}" AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 \
    cequence_client_id=demo-client cequence_client_secret=demo-secret \
    cequence_auth_endpoint="http://127.0.0.1:${oauth_port}/token" \
    cequence_edge_endpoint="http://127.0.0.1:${bridge_port}" \
    cequence_allow_insecure_endpoints=true cequence_log_level=info cequence_log_format=text \
    cequence_batch_size=500 cequence_realtime_fields="${realtime_fields}" \
    target/debug/cf-passive-lambda
  jq -n '{Service: "Amazon S3", Event: "s3:TestEvent", Time: "2024-02-01T00:00:00.000Z",
    Bucket: "cequence-cf-passive-demo", RequestId: "DEMO", HostId: "DEMO"}' >"${DEMO}/test-event.json"
  wait_for "the Lambda" invoke "${DEMO}/test-event.json" 10
  printf '  s3:TestEvent acknowledged\n' >&2

  say "Invoking the Lambda with S3 events"
  # One event with several records (folder marker included), one wrapped in SQS.
  local records=() i
  for i in 0 2 3; do
    records+=("$(s3_record "${UPLOADED_KEYS[i]}" "$(stat -c %s "${UPLOADED_FILES[i]}")")")
  done
  records+=("$(s3_record "${PREFIX}/" 0)")
  printf '%s\n' "${records[@]}" | jq -s '{Records: .}' >"${DEMO}/event-s3.json"
  s3_record "${UPLOADED_KEYS[1]}" "$(stat -c %s "${UPLOADED_FILES[1]}")" | jq -s '{Records: .}' |
    jq '{Records: [{eventSource: "aws:sqs", messageId: "demo-1", body: (. | tostring)}]}' >"${DEMO}/event-sqs.json"
  printf '  one S3 event with four records (three logs and a folder marker):\n' >&2
  explain_result "$(invoke "${DEMO}/event-s3.json")"
  printf '  one SQS message wrapping an S3 event (the generated 20,000-record log):\n' >&2
  explain_result "$(invoke "${DEMO}/event-sqs.json")"

  say "Real-time logs: lines put on the Kinesis stream, read back, one Kinesis event"
  local rt="${DEMO}/realtime" answer
  mkdir -p "${rt}"
  target/debug/cf-loggen --seed 7 --realtime-fields all --records 400 \
    --distribution-id "${legacy_id}" --out "${rt}/enabled.log"
  printf 'not a real-time log line\n' >>"${rt}/enabled.log" # malformed: counted, skipped
  target/debug/cf-loggen --seed 8 --realtime-fields all --records 40 \
    --distribution-id "${disabled_id}" --out "${rt}/disabled.log"
  put_lines "${rt}/enabled.log"
  put_lines "${rt}/disabled.log"
  printf '  %s lines for %s (one malformed), %s for %s (disabled), %s fields each\n' \
    "$(wc -l <"${rt}/enabled.log")" "${legacy_id}" "$(wc -l <"${rt}/disabled.log")" "${disabled_id}" \
    "$(tr ',' '\n' <<<"${realtime_fields}" | wc -l)" >&2
  read_shard "${DEMO}/event-kinesis.json"
  printf '  read back with GetRecords: a Kinesis event of %s records\n' \
    "$(jq '.Records | length' "${DEMO}/event-kinesis.json")" >&2
  answer="$(invoke "${DEMO}/event-kinesis.json")"
  printf '  the answer (ReportBatchItemFailures): %s\n' "$(jq -c . <<<"${answer}")" >&2
  jq -e '.batchItemFailures == []' <<<"${answer}" >/dev/null ||
    die "FAILED: the Lambda asked Kinesis to retry records: ${answer}"

  say "What CloudWatch shows"
  grep -E 'Successfully sent|summary|not tagged|WARN|ERROR' "${DEMO}/lambda.log" |
    sed -E 's/^.*(INFO|WARN|ERROR|DEBUG) /\1 /' | if [[ "${QUIET}" == true ]]; then head -n 20; else cat; fi >&2

  say "What the bridge received"
  jq -r '.transaction["txn-meta-data"]["cloudfront"]["distribution-id"]' "${DEMO}/received.ndjson" | sort | uniq -c |
    awk '{printf "  %7d transactions for distribution %s\n", $1, $2}' >&2
  printf '  batches (distinct Idempotency-Keys): %s\n' \
    "$(jq -r '.["idempotency-key"]' "${DEMO}/received.ndjson" | sort -u | wc -l)" >&2
  printf '  a sample v2 transaction (the receiver validated every body against docs/schema/batch.v2.json):\n' >&2
  head -n1 "${DEMO}/received.ndjson" | jq '.transaction' | sed 's/^/    /' >&2
  printf '  a sample real-time transaction, its request headers (from cs-headers) decoded:\n' >&2
  jq -n 'first(inputs | select(.transaction["txn-meta-data"].cloudfront["log-object"] | startswith("kinesis://"))) |
    .transaction | .request.headers |= map(capture("^(?<name>[^:]*):(?<value>.*)$") | "\(.name): \(.value | @base64d)")' \
    "${DEMO}/received.ndjson" | sed 's/^/    /' >&2

  say "Checking against a dry run of the same objects"
  : >"${DEMO}/expected.ids"
  for i in 0 1 2; do
    target/debug/cf-passive-lambda process --dry-run --bucket "${BUCKET}" --key "${UPLOADED_KEYS[i]}" \
      "${UPLOADED_FILES[i]}" 2>/dev/null | jq -r '.["transaction-id"]' >>"${DEMO}/expected.ids"
  done
  sort -u -o "${DEMO}/expected.ids" "${DEMO}/expected.ids"
  jq -r '.transaction | select(.["txn-meta-data"].cloudfront["log-object"] | startswith("s3://")) |
    .["transaction-id"]' "${DEMO}/received.ndjson" | sort -u >"${DEMO}/received.ids"
  local expected received
  expected="$(wc -l <"${DEMO}/expected.ids")"
  received="$(wc -l <"${DEMO}/received.ids")"
  if ! diff -q "${DEMO}/expected.ids" "${DEMO}/received.ids" >/dev/null; then
    diff "${DEMO}/expected.ids" "${DEMO}/received.ids" | head -n 10 >&2 || true
    die "FAILED: the bridge received ${received} distinct transactions, expected ${expected}"
  fi
  local refused
  refused="$(curl -fsS "http://127.0.0.1:${bridge_port}/_stats" | jq '.per_status["400"] // 0')"
  [[ "${refused}" == 0 ]] ||
    die "FAILED: the strict bridge receiver refused ${refused} request(s) as not valid v2 (see ${DEMO}/bridge.log)"
  grep -q "Successfully sent .* transactions for CF Distribution ${legacy_id}" "${DEMO}/lambda.log" ||
    die "FAILED: no success line for ${legacy_id} in the Lambda's log"
  grep -q "Successfully sent .* transactions for CF Distribution ${json_id}" "${DEMO}/lambda.log" ||
    die "FAILED: no success line for ${json_id} in the Lambda's log"
  if grep -q "${disabled_id}" "${DEMO}/received.ids" ||
    jq -e --arg d "${disabled_id}" 'select(.transaction["txn-meta-data"]["cloudfront"]["distribution-id"] == $d)' \
      "${DEMO}/received.ndjson" >/dev/null; then
    die "FAILED: records of the disabled distribution ${disabled_id} reached the bridge"
  fi

  say "Checking the real-time transactions against process --realtime --dry-run of the same lines"
  AWS_LAMBDA_FUNCTION_NAME="${FUNCTION}" cequence_realtime_fields="${realtime_fields}" \
    target/debug/cf-passive-lambda process --realtime --dry-run "${rt}/enabled.log" 2>"${rt}/dry-run.log" |
    canonical >"${rt}/expected.ndjson"
  jq -c '.transaction | select(.["txn-meta-data"].cloudfront["log-object"] | startswith("kinesis://"))' \
    "${DEMO}/received.ndjson" | canonical >"${rt}/received.ndjson"
  local rt_expected rt_received
  rt_expected="$(wc -l <"${rt}/expected.ndjson")"
  rt_received="$(wc -l <"${rt}/received.ndjson")"
  ((rt_expected > 0)) || die "FAILED: the dry run of ${rt}/enabled.log gave no transaction (see ${rt}/dry-run.log)"
  if ! cmp -s "${rt}/expected.ndjson" "${rt}/received.ndjson"; then
    diff "${rt}/expected.ndjson" "${rt}/received.ndjson" | cut -c1-300 | head -n 6 >&2 || true
    die "FAILED: the bridge received ${rt_received} real-time transactions, not the ${rt_expected} of the dry run"
  fi
  printf '  %s real-time transactions, identical to the dry run (static assets, the malformed line and %s not sent)\n' \
    "${rt_received}" "${disabled_id}" >&2
  printf '\nPASSED: all %s expected transactions arrived (%s from real-time logs); nothing from the disabled distribution.\n' \
    "$((expected + rt_received))" "${rt_received}"
}

main "$@"
