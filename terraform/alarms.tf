# Alarms are always created; they notify only when alarm_email is set.

resource "aws_sns_topic" "alarms" {
  #checkov:skip=CKV_AWS_26:CloudWatch alarms cannot publish to a topic encrypted with the AWS managed key alias/aws/sns, and a customer managed key costs $1/month; messages carry only alarm states.
  count = var.alarm_email == "" ? 0 : 1

  name = local.topic_name
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  alarm_name        = "${var.name_prefix}-lambda-errors-${local.suffix}"
  alarm_description = "The cf-passive Lambda returned errors (invocations are retried, then sent to the failure queue). See the log group ${local.log_group_name}."

  namespace   = "AWS/Lambda"
  metric_name = "Errors"
  dimensions = {
    FunctionName = aws_lambda_function.forwarder.function_name
  }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "failure_queue" {
  alarm_name        = "${var.name_prefix}-failure-queue-${local.suffix}"
  alarm_description = "S3 events whose retries ran out are waiting in ${local.queue_name}; their logs were not (completely) forwarded."

  namespace   = "AWS/SQS"
  metric_name = "ApproximateNumberOfMessagesVisible"
  dimensions = {
    QueueName = aws_sqs_queue.failures.name
  }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "failed_batches" {
  alarm_name        = "${var.name_prefix}-failed-batches-${local.suffix}"
  alarm_description = "The bridge rejected batches of transactions (Embedded Metric Format metric FailedBatches of the cf-passive Lambda)."

  namespace   = "CequenceCfPassive"
  metric_name = "FailedBatches"
  dimensions = {
    FunctionName = aws_lambda_function.forwarder.function_name
  }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}
