# Variable names are a fixed interface: scripts/setup-tfvars.sh writes
# terraform.tfvars with exactly these names. The cequence_* variables become
# Lambda environment variables of the same (lowercase) name.

# ---------------------------------------------------------------------------
# Bridge connection (required)
# ---------------------------------------------------------------------------

variable "cequence_client_id" {
  description = "OAuth2 client id the Lambda uses to get a token from cequence_auth_endpoint (client-credentials grant)."
  type        = string

  validation {
    condition     = length(trimspace(var.cequence_client_id)) > 0
    error_message = "cequence_client_id must not be empty."
  }
}

variable "cequence_client_secret" {
  description = "OAuth2 client secret. Stored in AWS Secrets Manager; the Lambda receives only the secret's ARN (cequence_client_secret_arn). Note that it is also kept in the Terraform state."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.cequence_client_secret) > 0
    error_message = "cequence_client_secret must not be empty."
  }
}

variable "cequence_auth_endpoint" {
  description = "Full URL of the OAuth2 token endpoint, e.g. https://idp.example.com/realms/x/protocol/openid-connect/token. Must be https:// unless allow_insecure_endpoints = true."
  type        = string

  validation {
    condition     = can(regex("^https?://[^/\\s?#]+", var.cequence_auth_endpoint))
    error_message = "cequence_auth_endpoint must be an absolute http(s) URL, e.g. https://idp.example.com/oauth2/token."
  }
}

variable "cequence_edge_endpoint" {
  description = "Base URL of the bridge, e.g. https://bridge.example.com. Transactions are POSTed to cequence_edge_endpoint + cequence_edge_path. Must be https:// unless allow_insecure_endpoints = true."
  type        = string

  validation {
    condition     = can(regex("^https?://[^/\\s?#]+", var.cequence_edge_endpoint))
    error_message = "cequence_edge_endpoint must be an absolute http(s) URL, e.g. https://bridge.example.com."
  }
}

# ---------------------------------------------------------------------------
# Bridge connection and forwarding behaviour (optional)
# ---------------------------------------------------------------------------

variable "cequence_log_level" {
  description = "Lambda log level: error, warn, info, debug or trace."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["error", "warn", "info", "debug", "trace"], var.cequence_log_level)
    error_message = "cequence_log_level must be one of error, warn, info, debug, trace."
  }
}

variable "cequence_log_format" {
  description = "Lambda log line format: json or text."
  type        = string
  default     = "json"

  validation {
    condition     = contains(["json", "text"], var.cequence_log_format)
    error_message = "cequence_log_format must be json or text."
  }
}

variable "cequence_edge_path" {
  description = "Path appended to cequence_edge_endpoint for sending transactions."
  type        = string
  default     = "/api-transactions"

  validation {
    condition     = can(regex("^/?[^\\s?#]*$", var.cequence_edge_path))
    error_message = "cequence_edge_path must be a URL path without spaces, query or fragment, e.g. /api-transactions."
  }
}

variable "cequence_auth_style" {
  description = "How the client authenticates to the token endpoint: basic (HTTP Basic header) or body (client_id/client_secret form fields)."
  type        = string
  default     = "basic"

  validation {
    condition     = contains(["basic", "body"], var.cequence_auth_style)
    error_message = "cequence_auth_style must be basic or body."
  }
}

variable "cequence_batch_size" {
  description = "Maximum number of transactions per request to the bridge (1..10000)."
  type        = number
  default     = 500

  validation {
    condition     = var.cequence_batch_size >= 1 && var.cequence_batch_size <= 10000 && floor(var.cequence_batch_size) == var.cequence_batch_size
    error_message = "cequence_batch_size must be a whole number from 1 to 10000."
  }
}

variable "cequence_batch_max_bytes" {
  description = "Maximum uncompressed request body size in bytes; a batch is cut at cequence_batch_size or at this size, whichever comes first (1024..67108864)."
  type        = number
  default     = 1048576

  validation {
    condition     = var.cequence_batch_max_bytes >= 1024 && var.cequence_batch_max_bytes <= 67108864 && floor(var.cequence_batch_max_bytes) == var.cequence_batch_max_bytes
    error_message = "cequence_batch_max_bytes must be a whole number from 1024 to 67108864 (64 MiB)."
  }
}

variable "cequence_gzip" {
  description = "Compress request bodies with gzip (Content-Encoding: gzip)."
  type        = bool
  default     = true
}

variable "cequence_max_in_flight" {
  description = "Maximum number of concurrent requests to the bridge from one invocation (1..64)."
  type        = number
  default     = 4

  validation {
    condition     = var.cequence_max_in_flight >= 1 && var.cequence_max_in_flight <= 64 && floor(var.cequence_max_in_flight) == var.cequence_max_in_flight
    error_message = "cequence_max_in_flight must be a whole number from 1 to 64."
  }
}

variable "cequence_http_timeout_s" {
  description = "Timeout in seconds for one HTTP request to the token endpoint or the bridge (1..900)."
  type        = number
  default     = 30

  validation {
    condition     = var.cequence_http_timeout_s >= 1 && var.cequence_http_timeout_s <= 900 && floor(var.cequence_http_timeout_s) == var.cequence_http_timeout_s
    error_message = "cequence_http_timeout_s must be a whole number from 1 to 900."
  }
}

variable "cequence_retry_max_elapsed_s" {
  description = "Retry budget in seconds for one batch (retries on 408, 429, 5xx and connection errors). Must be shorter than lambda_timeout_s (0..900)."
  type        = number
  default     = 120

  validation {
    condition     = var.cequence_retry_max_elapsed_s >= 0 && var.cequence_retry_max_elapsed_s <= 900 && floor(var.cequence_retry_max_elapsed_s) == var.cequence_retry_max_elapsed_s
    error_message = "cequence_retry_max_elapsed_s must be a whole number from 0 to 900."
  }
}

variable "cequence_inflate_thread" {
  description = "Inflate gzip log objects on a second thread: auto (only with more than one vCPU, i.e. above 1769 MB of memory), on or off."
  type        = string
  default     = "auto"

  validation {
    condition     = contains(["auto", "on", "off"], var.cequence_inflate_thread)
    error_message = "cequence_inflate_thread must be auto, on or off."
  }
}

variable "cequence_skip_extensions" {
  description = "Comma-separated file extensions whose requests are not forwarded, e.g. \".jpg,.css,.js\". Empty = the Lambda's built-in list of static extensions."
  type        = string
  default     = ""
}

variable "cequence_require_enabled_tag" {
  description = "Forward only distributions tagged cequence-enabled = true (looked up with cloudfront:ListTagsForResource). false forwards every distribution whose logs reach the bucket."
  type        = bool
  default     = true
}

variable "cequence_tag_cache_s" {
  description = "How long, in seconds, the Lambda caches a distribution's cequence-enabled tag (0..86400)."
  type        = number
  default     = 300

  validation {
    condition     = var.cequence_tag_cache_s >= 0 && var.cequence_tag_cache_s <= 86400 && floor(var.cequence_tag_cache_s) == var.cequence_tag_cache_s
    error_message = "cequence_tag_cache_s must be a whole number from 0 to 86400."
  }
}

variable "cequence_ca_cert_pem" {
  description = "PEM text of a CA certificate to trust for the bridge and token endpoint (private or self-signed CA). Empty = system trust store only. Passed as an environment variable (Lambda allows 4 KB for all of them)."
  type        = string
  default     = ""

  validation {
    condition     = var.cequence_ca_cert_pem == "" || (strcontains(var.cequence_ca_cert_pem, "-----BEGIN CERTIFICATE-----") && length(var.cequence_ca_cert_pem) <= 3000)
    error_message = "cequence_ca_cert_pem must be empty or PEM text containing -----BEGIN CERTIFICATE----- and at most 3000 characters (Lambda environment limit is 4 KB in total)."
  }
}

variable "cequence_tls_insecure" {
  description = "LAB USE ONLY: skip TLS certificate verification towards the bridge and token endpoint. Logs a warning at every cold start. Prefer cequence_ca_cert_pem."
  type        = bool
  default     = false
}

variable "allow_insecure_endpoints" {
  description = "Allow http:// (unencrypted) URLs for cequence_auth_endpoint and cequence_edge_endpoint. Lab use only."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------
# AWS placement and naming
# ---------------------------------------------------------------------------

variable "aws_region" {
  description = "AWS region for the log bucket, Lambda and everything else. The bucket and the Lambda must share a region (S3 notifications are same-region)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$", var.aws_region))
    error_message = "aws_region must be an AWS region name such as us-east-1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (a random suffix is appended). The deployer IAM policy expects the default cequence-cf-passive; change both together."
  type        = string
  default     = "cequence-cf-passive"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen (it becomes part of S3 bucket, Lambda and IAM role names)."
  }
}

variable "tags" {
  description = "Extra tags for every resource (merged into the provider's default_tags)."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------
# Log bucket
# ---------------------------------------------------------------------------

variable "log_prefix" {
  description = "Key prefix under which CloudFront writes logs in the bucket; only objects under it trigger the Lambda. Must end with \"/\"."
  type        = string
  default     = "cloudfront-logs/"

  validation {
    condition     = can(regex("^[^/\\s][^\\s]*/$", var.log_prefix))
    error_message = "log_prefix must be non-empty, must not start with \"/\", must not contain spaces and must end with \"/\", e.g. cloudfront-logs/."
  }
}

variable "log_retention_days" {
  description = "Days after which log objects are deleted from the bucket (S3 lifecycle expiry). Ignored with existing_bucket_name."
  type        = number
  default     = 7

  validation {
    condition     = var.log_retention_days >= 1 && floor(var.log_retention_days) == var.log_retention_days
    error_message = "log_retention_days must be a whole number of at least 1."
  }
}

variable "legacy_logging" {
  description = "Prepare the bucket for CloudFront legacy standard logging (ACLs enabled, BucketOwnerPreferred, write grant for the awslogsdelivery account). false = standard logging v2 only (ACLs disabled, BucketOwnerEnforced)."
  type        = bool
  default     = false
}

variable "existing_bucket_name" {
  description = "Use this existing bucket (same region) instead of creating one. Terraform then only adds the Lambda notification (replacing the bucket's whole notification configuration) and does not change the bucket's policy, ACLs, encryption or lifecycle. Empty = create a bucket."
  type        = string
  default     = ""

  validation {
    condition     = var.existing_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.existing_bucket_name))
    error_message = "existing_bucket_name must be empty or a valid S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)."
  }
}

# ---------------------------------------------------------------------------
# Lambda
# ---------------------------------------------------------------------------

variable "architecture" {
  description = "Lambda instruction set: arm64 (cheaper per GB-second) or x86_64. Must match the build (cargo lambda build --release --arm64 or --x86-64)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "lambda_memory_mb" {
  description = "Lambda memory in MB (128..10240); CPU is allocated in proportion."
  type        = number
  default     = 256

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240 && floor(var.lambda_memory_mb) == var.lambda_memory_mb
    error_message = "lambda_memory_mb must be a whole number from 128 to 10240."
  }
}

variable "lambda_timeout_s" {
  description = "Lambda timeout in seconds (1..900). Must exceed cequence_retry_max_elapsed_s."
  type        = number
  default     = 300

  validation {
    condition     = var.lambda_timeout_s >= 1 && var.lambda_timeout_s <= 900 && floor(var.lambda_timeout_s) == var.lambda_timeout_s
    error_message = "lambda_timeout_s must be a whole number from 1 to 900."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions for the Lambda, which also caps how many invocations hit the bridge at once. null = unreserved (account pool)."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrency == null ? true : (var.reserved_concurrency >= 1 && floor(var.reserved_concurrency) == var.reserved_concurrency)
    error_message = "reserved_concurrency must be null or a whole number of at least 1 (0 would stop the function)."
  }
}

variable "enable_xray" {
  description = "Enable AWS X-Ray active tracing for the Lambda (adds X-Ray write permissions and X-Ray cost)."
  type        = bool
  default     = false
}

variable "maximum_event_age_s" {
  description = "How long, in seconds, Lambda keeps retrying an S3 event before sending it to the failure queue (60..21600)."
  type        = number
  default     = 21600

  validation {
    condition     = var.maximum_event_age_s >= 60 && var.maximum_event_age_s <= 21600 && floor(var.maximum_event_age_s) == var.maximum_event_age_s
    error_message = "maximum_event_age_s must be a whole number from 60 to 21600."
  }
}

variable "log_retention_days_lambda" {
  description = "Retention in days of the Lambda's CloudWatch log group. One of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  type        = number
  default     = 1

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days_lambda)
    error_message = "log_retention_days_lambda must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "lambda_zip_path" {
  description = "Path of the Lambda deployment zip (built by cargo lambda build --release --output-format zip). null or empty = <module>/../target/lambda/cf-passive-lambda/bootstrap.zip."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------
# Alarms
# ---------------------------------------------------------------------------

variable "alarm_email" {
  description = "E-mail address subscribed to an SNS topic that receives the CloudWatch alarms (confirm the subscription e-mail). Empty = no topic; the alarms are still created, without actions."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be empty or an e-mail address."
  }
}
