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

resource "aws_iam_role" "lambda" {
  name               = local.role_name
  description        = "Execution role of ${local.function_name}."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume_role.json
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "ReadLogObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = [local.log_objects_arn]
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
