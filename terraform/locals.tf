data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

resource "random_id" "suffix" {
  byte_length = 4
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  suffix     = random_id.suffix.hex

  # Names follow the deployer policy's patterns (policies/cequence-tf-iam-cf-passive-policy.json).
  create_bucket  = var.existing_bucket_name == ""
  bucket_name    = local.create_bucket ? "${var.name_prefix}-logs-${local.suffix}" : var.existing_bucket_name
  bucket_arn     = "arn:${local.partition}:s3:::${local.bucket_name}"
  function_name  = "${var.name_prefix}-lambda-${local.suffix}"
  role_name      = "${replace(var.name_prefix, "-", "_")}_lambda_role-${local.suffix}"
  log_group_name = "/aws/lambda/${local.function_name}"
  queue_name     = "${var.name_prefix}-failures-${local.suffix}"
  secret_name    = "${var.name_prefix}-client-secret-${local.suffix}"
  topic_name     = "${var.name_prefix}-alarms-${local.suffix}"

  # Objects CloudFront writes and the Lambda reads.
  log_objects_arn = "${local.bucket_arn}/${var.log_prefix}*"

  # CloudFront standard logging v2 delivers through CloudWatch Logs in us-east-1.
  delivery_source_arn = "arn:${local.partition}:logs:us-east-1:${local.account_id}:delivery-source:*"

  # Canonical user id of the awslogsdelivery account that writes legacy CloudFront logs.
  awslogsdelivery_canonical_id = "c4c1ede66af53448b93c283ce9448c4ba468c9432aa01d700d3878632f77d2d0"

  lambda_zip_path = coalesce(var.lambda_zip_path, "${path.module}/../target/lambda/cf-passive-lambda/bootstrap.zip")

  endpoint_scheme_pattern = var.allow_insecure_endpoints ? "^https?://" : "^https://"

  # Lambda environment: names are the lowercase variable names. The client
  # secret itself is never here, only the ARN of the Secrets Manager secret.
  # Optional settings left empty are omitted so the code's defaults apply.
  lambda_environment_all = {
    cequence_client_id           = var.cequence_client_id
    cequence_client_secret_arn   = aws_secretsmanager_secret.client_secret.arn
    cequence_auth_endpoint       = var.cequence_auth_endpoint
    cequence_edge_endpoint       = var.cequence_edge_endpoint
    cequence_edge_path           = var.cequence_edge_path
    cequence_auth_style          = var.cequence_auth_style
    cequence_log_level           = var.cequence_log_level
    cequence_log_format          = var.cequence_log_format
    cequence_batch_size          = tostring(var.cequence_batch_size)
    cequence_batch_max_bytes     = tostring(var.cequence_batch_max_bytes)
    cequence_gzip                = tostring(var.cequence_gzip)
    cequence_max_in_flight       = tostring(var.cequence_max_in_flight)
    cequence_http_timeout_s      = tostring(var.cequence_http_timeout_s)
    cequence_retry_max_elapsed_s = tostring(var.cequence_retry_max_elapsed_s)
    cequence_inflate_thread      = var.cequence_inflate_thread
    cequence_skip_extensions     = var.cequence_skip_extensions
    cequence_require_enabled_tag = tostring(var.cequence_require_enabled_tag)
    cequence_tag_cache_s         = tostring(var.cequence_tag_cache_s)
    cequence_ca_cert_pem         = var.cequence_ca_cert_pem
    cequence_tls_insecure        = tostring(var.cequence_tls_insecure)
    # The function itself refuses http:// endpoints unless told otherwise.
    cequence_allow_insecure_endpoints = tostring(var.allow_insecure_endpoints)
    # Batches the bridge refused for good are parked here, one message each.
    cequence_failure_queue_url = aws_sqs_queue.failures.url
    # Empty (so dropped) unless realtime_logs is on.
    cequence_realtime_fields = local.realtime_fields_env
  }
  lambda_environment = { for name, value in local.lambda_environment_all : name => value if value != "" }

  alarm_actions = [for topic in aws_sns_topic.alarms : topic.arn]
}
