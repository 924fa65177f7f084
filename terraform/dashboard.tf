# One CloudWatch dashboard: is traffic flowing, what is filtered, what fails.
# The function's own metrics (Embedded Metric Format, namespace
# CequenceCfPassive, dimension FunctionName; see lambda/src/report.rs) cover
# the standard and the real-time path alike; the real-time row adds how far
# the function is behind the stream.

locals {
  dashboard_name     = "${var.name_prefix}-${local.suffix}"
  dashboard_function = aws_lambda_function.forwarder.function_name

  # [title, [[metric, statistic], ...]] of the function's own metrics.
  dashboard_function_widgets = [
    ["Transactions sent", [["TransactionsSent", "Sum"]]],
    ["Skipped: static assets and disabled distributions", [["SkippedStatic", "Sum"], ["SkippedDisabled", "Sum"]]],
    ["Malformed rows (counted and skipped)", [["Malformed", "Sum"]]],
    ["Batches, retries and failed batches", [["Batches", "Sum"], ["Retries", "Sum"], ["FailedBatches", "Sum"]]],
    ["Lag: newest record to delivery (s)", [["LagSeconds", "Maximum"]]],
  ]

  dashboard_widgets = concat(
    [
      for index, widget in local.dashboard_function_widgets : {
        type   = "metric"
        x      = (index % 3) * 8
        y      = floor(index / 3) * 6
        width  = 8
        height = 6
        properties = {
          title   = widget[0]
          region  = var.aws_region
          view    = "timeSeries"
          stacked = false
          period  = 300
          metrics = [
            for metric in widget[1] : ["CequenceCfPassive", metric[0], "FunctionName", local.dashboard_function, { stat = metric[1], label = metric[0] }]
          ]
        }
      }
    ],
    [
      {
        type   = "metric"
        x      = 16
        y      = 6
        width  = 8
        height = 6
        properties = {
          title   = "Function invocations, errors and failure queue"
          region  = var.aws_region
          view    = "timeSeries"
          stacked = false
          period  = 300
          metrics = [
            ["AWS/Lambda", "Invocations", "FunctionName", local.dashboard_function, { stat = "Sum" }],
            ["AWS/Lambda", "Errors", "FunctionName", local.dashboard_function, { stat = "Sum" }],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.failures.name, { stat = "Maximum" }],
          ]
        }
      },
    ],
    [
      for stream in aws_kinesis_stream.realtime[*] : {
        type   = "metric"
        x      = 0
        y      = 12
        width  = 24
        height = 6
        properties = {
          title   = "Real-time logs: records in, and how far behind the function is (ms)"
          region  = var.aws_region
          view    = "timeSeries"
          stacked = false
          period  = 60
          metrics = [
            ["AWS/Lambda", "IteratorAge", "FunctionName", local.dashboard_function, { stat = "Maximum", label = "IteratorAge (ms)" }],
            ["AWS/Kinesis", "IncomingRecords", "StreamName", stream.name, { stat = "Sum", yAxis = "right" }],
          ]
        }
      }
    ],
  )
}

resource "aws_cloudwatch_dashboard" "forwarder" {
  count = var.dashboard ? 1 : 0

  dashboard_name = local.dashboard_name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard, or null with dashboard = false."
  value       = one(aws_cloudwatch_dashboard.forwarder[*].dashboard_name)
}
