# Real-time logs, opt-in (realtime_logs = true): CloudFront writes one
# record per request to a Kinesis data stream within seconds; an event source
# mapping hands the stream's batches to the same function that reads the S3
# logs. Nothing here exists while realtime_logs is false.

locals {
  realtime_count     = var.realtime_logs ? 1 : 0
  realtime_name      = "${var.name_prefix}-realtime-${local.suffix}"
  realtime_role_name = "${replace(var.name_prefix, "-", "_")}_realtime_role-${local.suffix}"

  # Every real-time log field, in the order CloudFront writes the values of a
  # record (whatever order a configuration lists them in). See docs/realtime.md.
  realtime_known_fields = [
    "timestamp", "c-ip", "s-ip", "time-to-first-byte", "sc-status", "sc-bytes", "cs-method", "cs-protocol",
    "cs-host", "cs-uri-stem", "cs-bytes", "x-edge-location", "x-edge-request-id", "x-host-header",
    "time-taken", "cs-protocol-version", "c-ip-version", "cs-user-agent", "cs-referer", "cs-cookie",
    "cs-uri-query", "x-edge-response-result-type", "x-forwarded-for", "ssl-protocol", "ssl-cipher",
    "x-edge-result-type", "fle-encrypted-fields", "fle-status", "sc-content-type", "sc-content-len",
    "sc-range-start", "sc-range-end", "c-port", "x-edge-detailed-result-type", "c-country",
    "cs-accept-encoding", "cs-accept", "cache-behavior-path-pattern", "cs-headers", "cs-header-names",
    "cs-headers-count", "primary-distribution-id", "primary-distribution-dns-name", "origin-fbl",
    "origin-lbl", "asn", "cmcd-encoded-bitrate", "cmcd-buffer-length", "cmcd-buffer-starvation",
    "cmcd-content-id", "cmcd-object-duration", "cmcd-deadline", "cmcd-measured-throughput",
    "cmcd-next-object-request", "cmcd-next-range-request", "cmcd-object-type", "cmcd-playback-rate",
    "cmcd-requested-maximum-throughput", "cmcd-streaming-format", "cmcd-session-id", "cmcd-stream-type",
    "cmcd-startup", "cmcd-top-bitrate", "cmcd-version", "r-host", "sr-reason", "x-edge-mqcs",
    "distribution-tenant-id", "connection-id",
  ]

  # The configured fields in record order: the log configuration and the
  # function's cequence_realtime_fields get exactly this list.
  realtime_fields        = [for field in local.realtime_known_fields : field if contains(var.realtime_fields, field)]
  realtime_unknown       = [for field in var.realtime_fields : field if !contains(local.realtime_known_fields, field)]
  realtime_fields_env    = var.realtime_logs ? join(",", local.realtime_fields) : ""
  realtime_stream_arn    = one(aws_kinesis_stream.realtime[*].arn)
  realtime_kms_key_arns  = var.realtime_kms_key_arn == "" ? [] : [var.realtime_kms_key_arn]
  realtime_stream_kms_id = var.realtime_kms_key_arn == "" ? "alias/aws/kinesis" : var.realtime_kms_key_arn
}

resource "aws_kinesis_stream" "realtime" {
  #checkov:skip=CKV_AWS_185:Encrypted with KMS; the AWS managed key alias/aws/kinesis is the default so no key policy must be kept, and realtime_kms_key_arn selects a customer managed key when required.
  count = local.realtime_count

  name             = local.realtime_name
  retention_period = var.realtime_retention_hours
  shard_count      = var.realtime_stream_mode == "PROVISIONED" ? var.realtime_shard_count : null
  encryption_type  = "KMS"
  kms_key_id       = local.realtime_stream_kms_id

  stream_mode_details {
    stream_mode = var.realtime_stream_mode
  }
}

# The role CloudFront assumes to write the records: this stream only.
data "aws_iam_policy_document" "realtime_cloudfront_assume_role" {
  statement {
    sid     = "CloudFrontAssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "realtime_cloudfront" {
  count = local.realtime_count

  name                 = local.realtime_role_name
  description          = "Assumed by CloudFront to write real-time logs to ${local.realtime_name}."
  assume_role_policy   = data.aws_iam_policy_document.realtime_cloudfront_assume_role.json
  permissions_boundary = local.permissions_boundary_arn
}

data "aws_iam_policy_document" "realtime_cloudfront" {
  count = local.realtime_count

  statement {
    sid       = "WriteRealtimeLogRecords"
    effect    = "Allow"
    actions   = ["kinesis:DescribeStreamSummary", "kinesis:DescribeStream", "kinesis:PutRecord", "kinesis:PutRecords"]
    resources = [aws_kinesis_stream.realtime[0].arn]
  }

  dynamic "statement" {
    for_each = local.realtime_kms_key_arns

    content {
      sid       = "EncryptRealtimeLogRecords"
      effect    = "Allow"
      actions   = ["kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "realtime_cloudfront" {
  count = local.realtime_count

  name   = "${var.name_prefix}-realtime-cloudfront"
  role   = aws_iam_role.realtime_cloudfront[0].id
  policy = data.aws_iam_policy_document.realtime_cloudfront[0].json
}

resource "aws_cloudfront_realtime_log_config" "realtime" {
  count = local.realtime_count

  name          = local.realtime_name
  sampling_rate = var.realtime_sampling_rate
  fields        = local.realtime_fields

  endpoint {
    stream_type = "Kinesis"

    kinesis_stream_config {
      role_arn   = aws_iam_role.realtime_cloudfront[0].arn
      stream_arn = aws_kinesis_stream.realtime[0].arn
    }
  }

  lifecycle {
    precondition {
      condition     = length(local.realtime_unknown) == 0
      error_message = "realtime_fields names fields that real-time logs do not have: ${join(", ", local.realtime_unknown)}."
    }
  }

  # CloudFront checks that it can assume the role and write to the stream.
  depends_on = [aws_iam_role_policy.realtime_cloudfront]
}

# The function reads this stream only (the event source mapping polls with
# the function's role): what Lambda needs for a standard (shared-throughput)
# Kinesis consumer. Not granted: kinesis:ListStreams (the mapping names the
# stream by ARN) and kinesis:SubscribeToShard (enhanced fan-out only).
data "aws_iam_policy_document" "lambda_realtime" {
  count = local.realtime_count

  statement {
    sid       = "ReadRealtimeLogStream"
    effect    = "Allow"
    actions   = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"]
    resources = [aws_kinesis_stream.realtime[0].arn]
  }

  # A real-time record names its distribution only by domain (cs-host) when
  # the configuration has no primary-distribution-id field: the function then
  # finds the distribution with that DomainName in ListDistributions (cached
  # like the tag). IAM has no resource-level permission for ListDistributions,
  # so the resource is "*"; it returns distribution summaries, no logs or secrets.
  statement {
    sid       = "FindDistributionByDomain"
    effect    = "Allow"
    actions   = ["cloudfront:ListDistributions"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = local.realtime_kms_key_arns

    content {
      sid       = "DecryptRealtimeLogStream"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "lambda_realtime" {
  count = local.realtime_count

  name   = "${var.name_prefix}-lambda-realtime"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda_realtime[0].json
}

resource "aws_lambda_event_source_mapping" "realtime" {
  count = local.realtime_count

  event_source_arn  = aws_kinesis_stream.realtime[0].arn
  function_name     = aws_lambda_function.forwarder.arn
  starting_position = "TRIM_HORIZON"

  batch_size                         = var.realtime_batch_size
  maximum_batching_window_in_seconds = var.realtime_batching_window_s

  # The function names the first record of the first batch it could not
  # deliver; Lambda retries from there, so no record is skipped and the
  # delivered ones are not sent again.
  function_response_types        = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error = true
  maximum_retry_attempts         = var.realtime_max_retries
  maximum_record_age_in_seconds  = var.realtime_max_record_age_s

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.failures.arn
    }
  }

  lifecycle {
    precondition {
      condition     = var.realtime_max_record_age_s <= var.realtime_retention_hours * 3600
      error_message = "realtime_max_record_age_s must not exceed the stream retention (realtime_retention_hours * 3600), or records expire before Lambda gives up on them."
    }
  }

  # Lambda checks the read and failure-queue permissions when the mapping is created.
  depends_on = [aws_iam_role_policy.lambda_realtime, aws_iam_role_policy.lambda]
}

resource "aws_cloudwatch_metric_alarm" "realtime_iterator_age" {
  count = local.realtime_count

  alarm_name        = "${var.name_prefix}-realtime-iterator-age-${local.suffix}"
  alarm_description = "The cf-passive function is more than ${var.realtime_iterator_age_alarm_ms} ms behind the real-time log stream ${local.realtime_name}: records are late and, past realtime_max_record_age_s, only described to the failure queue."

  namespace   = "AWS/Lambda"
  metric_name = "IteratorAge"
  dimensions = {
    FunctionName = aws_lambda_function.forwarder.function_name
  }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.realtime_iterator_age_alarm_ms
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

output "realtime_log_config_arn" {
  description = "ARN of the CloudFront real-time log configuration (attach it with enable_aws_cf_integration.sh --realtime), or null without realtime_logs."
  value       = one(aws_cloudfront_realtime_log_config.realtime[*].arn)
}

output "realtime_sampling_rate" {
  description = "Percent of requests the real-time log configuration logs (enable_aws_cf_integration.sh --realtime warns below 100), or null without realtime_logs."
  value       = var.realtime_logs ? var.realtime_sampling_rate : null
}

output "realtime_stream_name" {
  description = "Name of the Kinesis data stream of the real-time logs, or null without realtime_logs."
  value       = one(aws_kinesis_stream.realtime[*].name)
}

output "realtime_stream_arn" {
  description = "ARN of the Kinesis data stream of the real-time logs, or null without realtime_logs."
  value       = local.realtime_stream_arn
}

output "realtime_fields" {
  description = "The real-time log fields in record order, as the function receives them in cequence_realtime_fields (empty without realtime_logs)."
  value       = local.realtime_fields_env
}
