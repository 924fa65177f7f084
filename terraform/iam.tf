data "aws_iam_policy_document" "lambda_assume_role" {
  statement {
    sid     = "LambdaAssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# Every role here carries the permissions boundary: the deployer policy only
# allows creating or changing roles that have it, so whatever policy the
# deployer writes on a role, the role can never exceed the boundary.
resource "aws_iam_role" "lambda" {
  name                 = local.role_name
  description          = "Execution role of ${local.function_name}."
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume_role.json
  permissions_boundary = local.permissions_boundary_arn
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "ReadLogObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = [local.log_objects_arn]
  }

  # Without ListBucket, S3 answers a missing key with 403 (like a denied
  # one); with it the function can tell a deleted object from a permission
  # problem. Limited to listings under the log prefix.
  statement {
    sid       = "ListLogObjects"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.log_prefix}*"]
    }
  }

  # The delivered-batches checkpoint of a retried object is a tag on the log
  # object itself: read before processing, written before failing, removed
  # after success (DeleteObjectTagging when it was the object's only tag).
  statement {
    sid       = "CheckpointLogObjects"
    effect    = "Allow"
    actions   = ["s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging"]
    resources = [local.log_objects_arn]
  }

  statement {
    sid       = "ReadDistributionTags"
    effect    = "Allow"
    actions   = ["cloudfront:ListTagsForResource"]
    resources = ["arn:${local.partition}:cloudfront::${local.account_id}:distribution/*"]
  }

  statement {
    sid       = "ReadClientSecret"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.client_secret.arn]
  }

  statement {
    sid       = "SendFailedEvents"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failures.arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "${var.name_prefix}-lambda"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}

data "aws_iam_policy_document" "lambda_xray" {
  statement {
    sid       = "WriteXRayTraces"
    effect    = "Allow"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions for these actions.
  }
}

resource "aws_iam_role_policy" "lambda_xray" {
  count = var.enable_xray ? 1 : 0

  name   = "${var.name_prefix}-lambda-xray"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda_xray.json
}

# Redaction only: read the hash key, and nothing else of Secrets Manager.
data "aws_iam_policy_document" "lambda_redact" {
  count = local.redact_enabled ? 1 : 0

  statement {
    sid       = "ReadRedactKey"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.redact_key[0].arn]
  }
}

resource "aws_iam_role_policy" "lambda_redact" {
  count = local.redact_enabled ? 1 : 0

  name   = "${var.name_prefix}-lambda-redact"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda_redact[0].json
}
