output "log_bucket_name" {
  description = "Name of the bucket CloudFront writes logs to."
  value       = local.bucket_name
}

output "log_bucket_created" {
  description = "true when Terraform created the log bucket (so disable --destroy may empty all of it); false for existing_bucket_name, a bucket that belongs to someone else."
  value       = local.create_bucket
}

output "log_bucket_arn" {
  description = "ARN of the log bucket."
  value       = local.bucket_arn
}

output "log_prefix" {
  description = "Key prefix of the log objects; only objects under it trigger the Lambda."
  value       = var.log_prefix
}

output "lambda_function_name" {
  description = "Name of the forwarding Lambda."
  value       = aws_lambda_function.forwarder.function_name
}

output "lambda_function_arn" {
  description = "ARN of the forwarding Lambda."
  value       = aws_lambda_function.forwarder.arn
}

output "lambda_log_group_name" {
  description = "CloudWatch log group of the Lambda."
  value       = aws_cloudwatch_log_group.lambda.name
}

output "failure_queue_url" {
  description = "URL of the SQS queue that receives S3 events whose retries ran out."
  value       = aws_sqs_queue.failures.url
}

output "failure_queue_arn" {
  description = "ARN of the failure queue."
  value       = aws_sqs_queue.failures.arn
}

output "aws_region" {
  description = "Region of the deployment."
  value       = var.aws_region
}

output "partition" {
  description = "AWS partition of the deployment (aws, aws-cn, aws-us-gov), for building ARNs."
  value       = local.partition
}

output "account_id" {
  description = "AWS account id of the deployment."
  value       = local.account_id
}

output "legacy_logging" {
  description = "Whether the bucket was prepared for CloudFront legacy standard logging."
  value       = var.legacy_logging
}

output "legacy_logging_bucket_domain" {
  description = "Value for DistributionConfig.Logging.Bucket when enabling legacy standard logging."
  value       = "${local.bucket_name}.s3.amazonaws.com"
}

output "delivery_destination_resource_arn" {
  description = "destinationResourceArn for the CloudWatch Logs delivery destination (CloudFront standard logging v2): the bucket plus the log prefix."
  value       = "${local.bucket_arn}/${trimsuffix(var.log_prefix, "/")}"
}

output "client_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the OAuth2 client secret."
  value       = aws_secretsmanager_secret.client_secret.arn
}

output "redact_key_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the redaction hash key, or null when cequence_redact is empty."
  value       = one(aws_secretsmanager_secret.redact_key[*].arn)
}

output "alarm_topic_arn" {
  description = "ARN of the SNS topic receiving the alarms, or null without alarm_email."
  value       = one(aws_sns_topic.alarms[*].arn)
}
