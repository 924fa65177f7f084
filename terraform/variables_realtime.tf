# Real-time logs (CloudFront -> Kinesis -> the same function) and the
# dashboard. Off by default: real-time logs cost CloudFront and Kinesis fees
# per request. See docs/realtime.md.

variable "realtime_logs" {
  description = "Create the real-time log path: a Kinesis data stream, a CloudFront real-time log configuration writing to it (attach it to cache behaviors with enable_aws_cf_integration.sh --realtime), and the event source mapping that feeds the stream to the function."
  type        = bool
  default     = false
}

variable "realtime_sampling_rate" {
  description = "Percentage of viewer requests CloudFront writes to the real-time log (1..100)."
  type        = number
  default     = 100

  validation {
    condition     = var.realtime_sampling_rate >= 1 && var.realtime_sampling_rate <= 100 && floor(var.realtime_sampling_rate) == var.realtime_sampling_rate
    error_message = "realtime_sampling_rate must be a whole number from 1 to 100."
  }
}

variable "realtime_fields" {
  description = "Fields of the real-time log configuration. Terraform writes them in CloudFront's record order (the order of the values in each record) and passes the same list to the function as cequence_realtime_fields. Must include timestamp, c-ip, cs-method, cs-uri-stem and sc-status."
  type        = list(string)
  default = [
    "timestamp", "c-ip", "time-to-first-byte", "sc-status", "sc-bytes", "cs-method", "cs-protocol",
    "cs-host", "cs-uri-stem", "cs-bytes", "x-edge-location", "x-edge-request-id", "x-host-header",
    "time-taken", "cs-protocol-version", "cs-user-agent", "cs-referer", "cs-cookie", "cs-uri-query",
    "x-edge-response-result-type", "x-forwarded-for", "ssl-protocol", "ssl-cipher", "x-edge-result-type",
    "sc-content-type", "sc-content-len", "sc-range-start", "sc-range-end", "c-port",
    "x-edge-detailed-result-type", "c-country", "cs-accept-encoding", "cs-accept", "cs-headers",
    "cs-headers-count", "primary-distribution-id", "asn",
  ]

  validation {
    condition     = alltrue([for field in ["timestamp", "c-ip", "cs-method", "cs-uri-stem", "sc-status"] : contains(var.realtime_fields, field)])
    error_message = "realtime_fields must include timestamp, c-ip, cs-method, cs-uri-stem and sc-status: every transaction needs them."
  }

  validation {
    condition     = length(distinct(var.realtime_fields)) == length(var.realtime_fields)
    error_message = "realtime_fields must not list a field twice."
  }

  validation {
    condition     = alltrue([for field in var.realtime_fields : can(regex("^[a-z][a-z0-9-]*$", field))])
    error_message = "realtime_fields holds real-time log field names such as cs-user-agent (lowercase, no cs(...) spellings)."
  }
}

variable "realtime_stream_mode" {
  description = "Capacity mode of the Kinesis data stream: ON_DEMAND (scales by itself, billed per GB) or PROVISIONED (realtime_shard_count shards; one shard takes 1 MB/s or 1,000 records/s)."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.realtime_stream_mode)
    error_message = "realtime_stream_mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "realtime_shard_count" {
  description = "Shards of the stream when realtime_stream_mode = PROVISIONED (1..500); ignored with ON_DEMAND."
  type        = number
  default     = 1

  validation {
    condition     = var.realtime_shard_count >= 1 && var.realtime_shard_count <= 500 && floor(var.realtime_shard_count) == var.realtime_shard_count
    error_message = "realtime_shard_count must be a whole number from 1 to 500."
  }
}

variable "realtime_retention_hours" {
  description = "How long, in hours, the stream keeps records (24..8760). replay --from-dlq can re-read a failed batch only within this time."
  type        = number
  default     = 24

  validation {
    condition     = var.realtime_retention_hours >= 24 && var.realtime_retention_hours <= 8760 && floor(var.realtime_retention_hours) == var.realtime_retention_hours
    error_message = "realtime_retention_hours must be a whole number from 24 to 8760."
  }
}

variable "realtime_kms_key_arn" {
  description = "ARN of a customer managed KMS key to encrypt the stream with. Empty = the AWS managed key alias/aws/kinesis (no key policy to maintain). With a key, CloudFront's role may generate data keys and the function may decrypt with it."
  type        = string
  default     = ""

  validation {
    condition     = var.realtime_kms_key_arn == "" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.realtime_kms_key_arn))
    error_message = "realtime_kms_key_arn must be empty or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias."
  }
}

variable "realtime_batch_size" {
  description = "Most Kinesis records per invocation of the function (1..10000)."
  type        = number
  default     = 500

  validation {
    condition     = var.realtime_batch_size >= 1 && var.realtime_batch_size <= 10000 && floor(var.realtime_batch_size) == var.realtime_batch_size
    error_message = "realtime_batch_size must be a whole number from 1 to 10000."
  }
}

variable "realtime_batching_window_s" {
  description = "Seconds Lambda may wait to fill a batch before invoking the function (0..300): the delay added to real-time delivery."
  type        = number
  default     = 5

  validation {
    condition     = var.realtime_batching_window_s >= 0 && var.realtime_batching_window_s <= 300 && floor(var.realtime_batching_window_s) == var.realtime_batching_window_s
    error_message = "realtime_batching_window_s must be a whole number from 0 to 300."
  }
}

variable "realtime_max_retries" {
  description = "How often Lambda retries a failed batch before sending its description to the failure queue (0..10000; never unbounded, or one bad batch would block its shard)."
  type        = number
  default     = 10

  validation {
    condition     = var.realtime_max_retries >= 0 && var.realtime_max_retries <= 10000 && floor(var.realtime_max_retries) == var.realtime_max_retries
    error_message = "realtime_max_retries must be a whole number from 0 to 10000."
  }
}

variable "realtime_max_record_age_s" {
  description = "Records older than this many seconds are not retried but described to the failure queue (60..604800). Keep it below the stream retention so replay --from-dlq can still read them."
  type        = number
  default     = 21600

  validation {
    condition     = var.realtime_max_record_age_s >= 60 && var.realtime_max_record_age_s <= 604800 && floor(var.realtime_max_record_age_s) == var.realtime_max_record_age_s
    error_message = "realtime_max_record_age_s must be a whole number from 60 to 604800."
  }
}

variable "realtime_iterator_age_alarm_ms" {
  description = "Alarm when the function falls this many milliseconds behind the stream (Lambda IteratorAge, maximum over 5 minutes)."
  type        = number
  default     = 300000

  validation {
    condition     = var.realtime_iterator_age_alarm_ms >= 1000 && floor(var.realtime_iterator_age_alarm_ms) == var.realtime_iterator_age_alarm_ms
    error_message = "realtime_iterator_age_alarm_ms must be a whole number of at least 1000."
  }
}

variable "dashboard" {
  description = "Create a CloudWatch dashboard of the function's metrics (standard and real-time paths) and, with realtime_logs, the stream's iterator age."
  type        = bool
  default     = true
}
