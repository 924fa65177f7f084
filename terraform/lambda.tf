resource "aws_secretsmanager_secret" "client_secret" {
  #checkov:skip=CKV_AWS_149:Encrypted with the AWS managed key aws/secretsmanager; a customer managed key would add cost and a key policy without adding protection for this single secret.
  #checkov:skip=CKV2_AWS_57:The OAuth2 client secret is issued by the customer's identity provider; rotate it there, then update cequence_client_secret and re-apply (a rotation Lambda cannot mint new credentials).
  name                    = local.secret_name
  description             = "OAuth2 client secret the cf-passive Lambda uses to get bridge tokens."
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "client_secret" {
  secret_id     = aws_secretsmanager_secret.client_secret.id
  secret_string = var.cequence_client_secret
}

resource "aws_cloudwatch_log_group" "lambda" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest by default; the Lambda never logs secrets, so a customer managed key would add cost only.
  #checkov:skip=CKV_AWS_338:Operational logs only; retention is log_retention_days_lambda (default 1 day) to keep CloudWatch cost low, raise it if required.
  name              = local.log_group_name
  retention_in_days = var.log_retention_days_lambda
}

resource "aws_sqs_queue" "failures" {
  name                      = local.queue_name
  message_retention_seconds = 1209600 # 14 days, the SQS maximum
  sqs_managed_sse_enabled   = true
}

resource "aws_lambda_function" "forwarder" {
  #checkov:skip=CKV_AWS_116:Failed asynchronous invocations go to an on-failure destination (aws_lambda_function_event_invoke_config), which also records the error; a DLQ would duplicate every message.
  #checkov:skip=CKV_AWS_117:The Lambda is not in a VPC: it needs only public AWS endpoints and the bridge, and a VPC would add NAT gateway cost.
  #checkov:skip=CKV_AWS_173:The environment holds only non-secret settings; the client secret is in Secrets Manager and only its ARN is in the environment.
  #checkov:skip=CKV_AWS_272:The zip is built from source by the deployer (cargo lambda build); AWS Signer code signing is not part of this deployment.
  function_name = local.function_name
  description   = "Forwards CloudFront standard access logs from S3 to the Cequence bridge."
  role          = aws_iam_role.lambda.arn

  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  filename         = local.lambda_zip_path
  source_code_hash = fileexists(local.lambda_zip_path) ? filebase64sha256(local.lambda_zip_path) : null

  memory_size                    = var.lambda_memory_mb
  timeout                        = var.lambda_timeout_s
  reserved_concurrent_executions = var.reserved_concurrency == null ? -1 : var.reserved_concurrency

  tracing_config {
    mode = var.enable_xray ? "Active" : "PassThrough"
  }

  environment {
    variables = local.lambda_environment
  }

  lifecycle {
    precondition {
      condition     = fileexists(local.lambda_zip_path)
      error_message = "Lambda zip not found at lambda_zip_path. Build it first: cargo lambda build --release --arm64 --output-format zip (or --x86-64 for architecture = \"x86_64\")."
    }

    precondition {
      condition     = can(regex(local.endpoint_scheme_pattern, var.cequence_auth_endpoint)) && can(regex(local.endpoint_scheme_pattern, var.cequence_edge_endpoint))
      error_message = "cequence_auth_endpoint and cequence_edge_endpoint must use https:// (set allow_insecure_endpoints = true to allow http:// in a lab)."
    }

    precondition {
      condition     = var.cequence_retry_max_elapsed_s < var.lambda_timeout_s
      error_message = "cequence_retry_max_elapsed_s must be shorter than lambda_timeout_s, or retries are cut off by the Lambda timeout."
    }
  }

  # The role's permissions and the log group (with its retention) must exist
  # before the first invocation.
  depends_on = [
    aws_iam_role_policy.lambda,
    aws_iam_role_policy.lambda_xray,
    aws_cloudwatch_log_group.lambda,
  ]
}

resource "aws_lambda_function_event_invoke_config" "forwarder" {
  function_name                = aws_lambda_function.forwarder.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = var.maximum_event_age_s

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failures.arn
    }
  }

  # Lambda checks that the execution role may send to the destination.
  depends_on = [aws_iam_role_policy.lambda]
}
