# Log bucket: created here unless existing_bucket_name is set. With an existing
# bucket only the notification (below) is managed; see docs/deploy.md.

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_18:This bucket holds access logs itself; logging its own access would need a second bucket and would log the log deliveries.
  #checkov:skip=CKV_AWS_21:Log objects are written once and expire after log_retention_days; versioning would only keep deleted copies at extra cost.
  #checkov:skip=CKV_AWS_144:Logs are transient input (kept log_retention_days, default 7 days) for the Lambda; cross-region replication would double storage for no recovery benefit.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256) is used: no KMS key cost, and CloudFront log delivery works without a KMS key policy.
  count = local.create_bucket ? 1 : 0

  bucket = local.bucket_name
}

resource "aws_s3_bucket_public_access_block" "logs" {
  count = local.create_bucket ? 1 : 0

  bucket                  = aws_s3_bucket.logs[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  count = local.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.logs[0].id

  rule {
    # Legacy CloudFront logging writes through ACLs, which BucketOwnerEnforced disables.
    object_ownership = var.legacy_logging ? "BucketOwnerPreferred" : "BucketOwnerEnforced"
  }
}

data "aws_canonical_user_id" "current" {}

# Legacy logging only: the awslogsdelivery account gets FULL_CONTROL, as
# CloudFront itself would grant when logging is enabled.
resource "aws_s3_bucket_acl" "logs" {
  count = local.create_bucket && var.legacy_logging ? 1 : 0

  bucket = aws_s3_bucket.logs[0].id

  access_control_policy {
    owner {
      id = data.aws_canonical_user_id.current.id
    }

    grant {
      grantee {
        type = "CanonicalUser"
        id   = data.aws_canonical_user_id.current.id
      }
      permission = "FULL_CONTROL"
    }

    grant {
      grantee {
        type = "CanonicalUser"
        id   = local.awslogsdelivery_canonical_id
      }
      permission = "FULL_CONTROL"
    }
  }

  depends_on = [aws_s3_bucket_ownership_controls.logs]
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  count = local.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.logs[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  count = local.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.logs[0].id

  rule {
    id     = "expire-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.log_retention_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "log_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyTlsOlderThan12"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }

  # CloudFront standard logging v2 (CloudWatch Logs vended delivery), from
  # our delivery sources only. The two statements are the ones CloudWatch
  # Logs would otherwise append itself (and Terraform would then remove).
  statement {
    sid       = "AllowCloudFrontV2LogDelivery"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = [local.log_objects_arn]

    principals {
      type        = "Service"
      identifiers = ["delivery.logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "s3:x-amz-acl"
      values   = ["bucket-owner-full-control"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = local.delivery_source_arns
    }
  }

  statement {
    sid       = "AllowCloudFrontV2LogDeliveryAclCheck"
    effect    = "Allow"
    actions   = ["s3:GetBucketAcl", "s3:ListBucket"]
    resources = [local.bucket_arn]

    principals {
      type        = "Service"
      identifiers = ["delivery.logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = local.delivery_source_arns
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  count = local.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.logs[0].id
  policy = data.aws_iam_policy_document.log_bucket.json

  # S3 rejects policy changes while the public access block is being created.
  depends_on = [aws_s3_bucket_public_access_block.logs]
}

resource "aws_lambda_permission" "s3_invoke" {
  statement_id   = "AllowS3Invoke"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.forwarder.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = local.bucket_arn
  source_account = local.account_id
}

# Replaces the bucket's whole notification configuration (also for an
# existing bucket): S3 keeps a single configuration per bucket.
resource "aws_s3_bucket_notification" "logs" {
  bucket = local.create_bucket ? one(aws_s3_bucket.logs[*].id) : var.existing_bucket_name

  lambda_function {
    id                  = "cequence-cf-passive"
    lambda_function_arn = aws_lambda_function.forwarder.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = var.log_prefix
  }

  depends_on = [aws_lambda_permission.s3_invoke]
}
