"""Structural tests of terraform/*.tf, parsed with python-hcl2 (offline).

`terraform validate`/`plan` need the provider registry, so these tests pin
down the security-relevant shape of the configuration instead: concrete
values, references and least-privilege IAM statements.
"""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TF_DIR = ROOT / "terraform"


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def _load_file(path: Path) -> dict:
    """Parses one .tf file into python-hcl2's dict form, string quotes stripped.

    python-hcl2 >= 8 keeps the quotes of string literals and wraps blocks
    unless told otherwise; version 7 has no SerializationOptions and already
    returns the shape we want.
    """
    options_cls = getattr(hcl2, "SerializationOptions", None)
    with path.open(encoding="utf-8") as handle:
        if options_cls is None:
            return hcl2.load(handle)
        options = options_cls(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
        return hcl2.load(handle, serialization_options=options)


def _strip_meta(value):
    if isinstance(value, dict):
        return {k: _strip_meta(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_strip_meta(v) for v in value]
    return value


class Config:
    def __init__(self, tf_dir: Path):
        self.files = sorted(tf_dir.glob("*.tf"))
        self.text = {p.name: p.read_text(encoding="utf-8") for p in self.files}
        self.resources: dict[str, dict[str, dict]] = {}
        self.data: dict[str, dict[str, dict]] = {}
        self.variables: dict[str, dict] = {}
        self.outputs: dict[str, dict] = {}
        self.locals: dict[str, object] = {}
        self.terraform: list[dict] = []
        self.providers: list[dict] = []
        for path in self.files:
            parsed = _strip_meta(_load_file(path))
            for block in parsed.get("resource", []):
                for rtype, named in block.items():
                    self.resources.setdefault(rtype, {}).update(named)
            for block in parsed.get("data", []):
                for dtype, named in block.items():
                    self.data.setdefault(dtype, {}).update(named)
            for block in parsed.get("variable", []):
                self.variables.update(block)
            for block in parsed.get("output", []):
                self.outputs.update(block)
            for block in parsed.get("locals", []):
                self.locals.update(block)
            self.terraform.extend(parsed.get("terraform", []))
            self.providers.extend(parsed.get("provider", []))

    def resource(self, rtype: str, name: str) -> dict:
        assert rtype in self.resources, f"no resource of type {rtype}"
        assert name in self.resources[rtype], f"no resource {rtype}.{name}"
        return self.resources[rtype][name]

    def policy_document(self, name: str) -> list[dict]:
        docs = self.data.get("aws_iam_policy_document", {})
        assert name in docs, f"no data.aws_iam_policy_document.{name}"
        return docs[name]["statement"]


@pytest.fixture(scope="module")
def cfg() -> Config:
    return Config(TF_DIR)


def block(value) -> dict:
    """A nested block is a list of one dict (or, in some versions, a dict)."""
    if isinstance(value, list):
        assert len(value) == 1, f"expected exactly one block, got {value!r}"
        return value[0]
    return value


def statement_by_sid(statements: list[dict], sid: str) -> dict:
    found = [s for s in statements if s.get("sid") == sid]
    assert len(found) == 1, f"expected one statement {sid}, got {[s.get('sid') for s in statements]}"
    return found[0]


# ---------------------------------------------------------------------------
# Layout, versions, providers
# ---------------------------------------------------------------------------


def test_expected_files_exist():
    for name in ["versions.tf", "providers.tf", "variables.tf", "locals.tf", "iam.tf", "outputs.tf",
                 "terraform.tfvars.example"]:
        assert (TF_DIR / name).is_file(), name


def test_versions(cfg):
    tf = cfg.terraform[0]
    # Write-only arguments need Terraform 1.11, secret_string_wo the AWS
    # provider 5.90, the ephemeral random_password the random provider 3.7.
    assert tf["required_version"] == ">= 1.11"
    providers = block(tf["required_providers"])
    assert providers["aws"]["source"] == "hashicorp/aws"
    assert providers["aws"]["version"] == ">= 5.90, < 7.0"
    assert providers["random"]["source"] == "hashicorp/random"
    assert providers["random"]["version"] == ">= 3.7"


def test_provider_region_and_default_tags(cfg):
    aws = [p["aws"] for p in cfg.providers if "aws" in p]
    assert len(aws) == 1
    assert aws[0]["region"] == "${var.aws_region}"
    tags = block(aws[0]["default_tags"])["tags"]
    assert "var.tags" in tags


# ---------------------------------------------------------------------------
# Variables: the fixed interface
# ---------------------------------------------------------------------------

REQUIRED_VARIABLES = {
    "cequence_client_id": "string",
    "cequence_client_secret": "string",
    "cequence_auth_endpoint": "string",
    "cequence_edge_endpoint": "string",
}

OPTIONAL_VARIABLES = {
    # name: (type, default)
    "cequence_log_level": ("string", "info"),
    "cequence_log_format": ("string", "json"),
    "cequence_edge_path": ("string", "/api-transactions"),
    "cequence_auth_style": ("string", "body"),
    "cequence_batch_size": ("number", 500),
    "cequence_batch_max_bytes": ("number", 1048576),
    "cequence_compression": ("string", "none"),
    "cequence_server_ip": ("string", ""),
    "cequence_max_in_flight": ("number", 4),
    "cequence_http_timeout_s": ("number", 30),
    "cequence_retry_max_elapsed_s": ("number", 120),
    "cequence_inflate_thread": ("string", "auto"),
    "cequence_skip_extensions": ("string", ""),
    "cequence_client_secret_version": ("number", 1),
    "cequence_log_fields": ("string", ""),
    "cequence_max_concurrent_objects": ("number", 4),
    "cequence_redact": ("string", ""),
    "permissions_boundary_policy_name": ("string", "cequence-cf-passive-boundary"),
    "extra_log_delivery_sources": ("string", ""),
    "cequence_require_enabled_tag": ("bool", True),
    "cequence_tag_cache_s": ("number", 300),
    "cequence_ca_cert_pem": ("string", ""),
    "cequence_tls_insecure": ("bool", False),
    "allow_insecure_endpoints": ("bool", False),
    "aws_region": ("string", "us-east-1"),
    "name_prefix": ("string", "cequence-cf-passive"),
    "log_prefix": ("string", "cloudfront-logs/"),
    "log_retention_days": ("number", 7),
    "log_retention_days_lambda": ("number", 1),
    "legacy_logging": ("bool", False),
    "existing_bucket_name": ("string", ""),
    "architecture": ("string", "arm64"),
    "lambda_memory_mb": ("number", 256),
    "lambda_timeout_s": ("number", 300),
    "reserved_concurrency": ("number", None),
    "enable_xray": ("bool", False),
    "maximum_event_age_s": ("number", 21600),
    "alarm_email": ("string", ""),
    "lambda_zip_path": ("string", None),
    "tags": ("map(string)", {}),
}

# Variables where a wrong value would only fail at apply time (or silently).
VALIDATED_VARIABLES = [
    "cequence_auth_endpoint", "cequence_edge_endpoint", "cequence_log_level", "cequence_log_format",
    "cequence_auth_style", "cequence_compression", "cequence_server_ip", "cequence_batch_size", "cequence_max_in_flight", "architecture",
    "lambda_memory_mb", "lambda_timeout_s", "reserved_concurrency", "maximum_event_age_s",
    "log_prefix", "log_retention_days_lambda", "name_prefix", "existing_bucket_name", "alarm_email",
    "aws_region", "cequence_ca_cert_pem", "cequence_client_secret_version", "cequence_log_fields",
    "cequence_max_concurrent_objects", "cequence_redact", "permissions_boundary_policy_name",
]


def _type(var: dict) -> str:
    return str(var.get("type", "")).replace("${", "").replace("}", "").replace(" ", "")


def test_every_variable_has_type_and_description(cfg):
    assert cfg.variables, "no variables parsed"
    for name, var in cfg.variables.items():
        assert _type(var), f"variable {name} has no type"
        assert len(str(var.get("description", ""))) >= 10, f"variable {name} has no useful description"


def _settings_rows() -> list[dict]:
    rows = []
    with (ROOT / "lambda" / "settings.tsv").open(encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for line in handle if not line.startswith("#") and line.strip()]
    header = lines[0].split("\t")
    for line in lines[1:]:
        rows.append(dict(zip(header, line.split("\t"))))
    return rows


def test_variable_set_is_the_fixed_interface(cfg):
    expected = set(REQUIRED_VARIABLES) | set(OPTIONAL_VARIABLES)
    # The real-time and dashboard variables are tested in test_realtime.py.
    realtime = {name for name in cfg.variables if name.startswith("realtime_")} | {"dashboard"}
    assert set(cfg.variables) - realtime == expected
    # The settings list's function and terraform keys are exactly the other
    # variables (plus the tags map). The real-time ones take lists and maps,
    # which .env does not carry, so they are Terraform-only for now.
    keys = {row["key"] for row in _settings_rows() if row["scope"] in ("function", "terraform")}
    assert set(cfg.variables) - realtime == keys | {"tags"}


def test_required_variables_have_no_default(cfg):
    for name, vtype in REQUIRED_VARIABLES.items():
        var = cfg.variables[name]
        assert "default" not in var, f"{name} must be required"
        assert _type(var) == vtype


def test_optional_variable_types_and_defaults(cfg):
    for name, (vtype, default) in OPTIONAL_VARIABLES.items():
        var = cfg.variables[name]
        assert _type(var) == vtype, f"{name}: type {_type(var)!r}"
        assert "default" in var, f"{name} must have a default"
        assert var["default"] == default, f"{name}: default {var['default']!r} != {default!r}"


def test_client_secret_is_sensitive_and_ephemeral(cfg):
    secret = cfg.variables["cequence_client_secret"]
    assert secret.get("sensitive") is True
    # Ephemeral: Terraform keeps it out of the state and plan files.
    assert secret.get("ephemeral") is True


def test_validations_present(cfg):
    for name in VALIDATED_VARIABLES:
        assert "validation" in cfg.variables[name], f"{name} needs a validation block"


def _validation_conditions(var: dict) -> str:
    validations = var["validation"] if isinstance(var["validation"], list) else [var["validation"]]
    return " ".join(v["condition"] for v in validations)


def test_enum_validations_list_allowed_values(cfg):
    assert '"arm64", "x86_64"' in _validation_conditions(cfg.variables["architecture"])
    assert '"error", "warn", "info", "debug", "trace"' in _validation_conditions(cfg.variables["cequence_log_level"])
    assert '"json", "text"' in _validation_conditions(cfg.variables["cequence_log_format"])
    assert '"basic", "body"' in _validation_conditions(cfg.variables["cequence_auth_style"])
    retention = _validation_conditions(cfg.variables["log_retention_days_lambda"])
    for days in ["1", "3", "5", "7", "14", "30", "365", "3653"]:
        assert re.search(rf"[\[ ]{days}[,\]]", retention), days
    assert "var.maximum_event_age_s >= 60" in _validation_conditions(cfg.variables["maximum_event_age_s"])
    assert "var.maximum_event_age_s <= 21600" in _validation_conditions(cfg.variables["maximum_event_age_s"])
    assert "var.lambda_memory_mb >= 128" in _validation_conditions(cfg.variables["lambda_memory_mb"])
    assert "var.lambda_memory_mb <= 10240" in _validation_conditions(cfg.variables["lambda_memory_mb"])
    assert "var.lambda_timeout_s <= 900" in _validation_conditions(cfg.variables["lambda_timeout_s"])
    assert "var.cequence_batch_size <= 10000" in _validation_conditions(cfg.variables["cequence_batch_size"])
    assert "/$" in _validation_conditions(cfg.variables["log_prefix"])


def test_https_enforced_unless_insecure_endpoints_allowed(cfg):
    assert cfg.locals["endpoint_scheme_pattern"] == '${var.allow_insecure_endpoints ? "^https?://" : "^https://"}'
    lambda_fn = cfg.resource("aws_lambda_function", "forwarder")
    conditions = " ".join(p["condition"] for p in block(lambda_fn["lifecycle"])["precondition"])
    assert "regex(local.endpoint_scheme_pattern, var.cequence_auth_endpoint)" in conditions
    assert "regex(local.endpoint_scheme_pattern, var.cequence_edge_endpoint)" in conditions


# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------


def test_resource_names_follow_deployer_policy_patterns(cfg):
    assert cfg.resource("random_id", "suffix")["byte_length"] == 4
    assert cfg.locals["suffix"] == "${random_id.suffix.hex}"
    assert cfg.locals["function_name"] == "${var.name_prefix}-lambda-${local.suffix}"
    assert cfg.locals["role_name"] == '${replace(var.name_prefix, "-", "_")}_lambda_role-${local.suffix}'
    assert cfg.locals["bucket_name"] == (
        '${local.create_bucket ? "${var.name_prefix}-logs-${local.suffix}" : var.existing_bucket_name}')
    assert cfg.locals["log_group_name"] == "/aws/lambda/${local.function_name}"
    for key in ["queue_name", "secret_name", "topic_name"]:
        assert cfg.locals[key].startswith("${var.name_prefix}-"), key
    assert cfg.resource("aws_iam_role", "lambda")["name"] == "${local.role_name}"
    assert cfg.resource("aws_lambda_function", "forwarder")["function_name"] == "${local.function_name}"
    assert cfg.resource("aws_sqs_queue", "failures")["name"] == "${local.queue_name}"
    assert cfg.resource("aws_secretsmanager_secret", "client_secret")["name"] == "${local.secret_name}"
    assert cfg.resource("aws_cloudwatch_log_group", "lambda")["name"] == "${local.log_group_name}"
    for alarm in cfg.resources["aws_cloudwatch_metric_alarm"].values():
        assert alarm["alarm_name"].startswith("${var.name_prefix}-"), alarm["alarm_name"]


# ---------------------------------------------------------------------------
# Lambda
# ---------------------------------------------------------------------------


def test_lambda_runtime_handler_architecture(cfg):
    fn = cfg.resource("aws_lambda_function", "forwarder")
    assert fn["runtime"] == "provided.al2023"
    assert fn["handler"] == "bootstrap"
    assert fn["architectures"] == ["${var.architecture}"]
    assert cfg.variables["architecture"]["default"] == "arm64"
    assert fn["role"] == "${aws_iam_role.lambda.arn}"
    assert fn["memory_size"] == "${var.lambda_memory_mb}"
    assert fn["timeout"] == "${var.lambda_timeout_s}"
    assert fn["reserved_concurrent_executions"] == "${var.reserved_concurrency == null ? -1 : var.reserved_concurrency}"
    assert block(fn["tracing_config"])["mode"] == '${var.enable_xray ? "Active" : "PassThrough"}'


def test_lambda_package(cfg):
    fn = cfg.resource("aws_lambda_function", "forwarder")
    assert fn["filename"] == "${local.lambda_zip_path}"
    assert "filebase64sha256(local.lambda_zip_path)" in fn["source_code_hash"]
    assert cfg.locals["lambda_zip_path"] == (
        '${coalesce(var.lambda_zip_path, "${path.module}/../target/lambda/cf-passive-lambda/bootstrap.zip")}')


def test_lambda_log_group_and_retention(cfg):
    group = cfg.resource("aws_cloudwatch_log_group", "lambda")
    assert group["retention_in_days"] == "${var.log_retention_days_lambda}"
    assert cfg.variables["log_retention_days_lambda"]["default"] == 1
    fn = cfg.resource("aws_lambda_function", "forwarder")
    assert "${aws_cloudwatch_log_group.lambda}" in fn["depends_on"]
    assert "${aws_iam_role_policy.lambda}" in fn["depends_on"]


def test_lambda_environment_has_secret_arn_not_secret(cfg):
    fn = cfg.resource("aws_lambda_function", "forwarder")
    assert block(fn["environment"])["variables"] == "${local.lambda_environment}"
    env = cfg.locals["lambda_environment_all"]
    assert env["cequence_client_secret_arn"] == "${aws_secretsmanager_secret.client_secret.arn}"
    assert "cequence_client_secret" not in env
    for key, value in env.items():
        assert "client_secret_version" not in value and "var.cequence_client_secret" not in value, key
    # Empty optional settings are dropped so the code's defaults apply.
    assert cfg.locals["lambda_environment"] == (
        '${{for name, value in local.lambda_environment_all : name => value if value != ""}}')


def test_lambda_environment_names_are_the_variable_names(cfg):
    env = cfg.locals["lambda_environment_all"]
    settings = {name for name in cfg.variables if name.startswith("cequence_")} - {
        "cequence_client_secret", "cequence_client_secret_version"}
    assert set(env) == settings | {
        "cequence_client_secret_arn", "cequence_allow_insecure_endpoints", "cequence_redact_key_secret_arn",
        "cequence_realtime_fields", "cequence_failure_queue_url"}
    # Every setting the function reads (settings list: scope function or
    # internal) reaches it.
    function_keys = {row["key"] for row in _settings_rows() if row["scope"] in ("function", "internal")}
    function_keys = {"cequence_allow_insecure_endpoints" if k == "allow_insecure_endpoints" else k for k in function_keys}
    # Secret values reach the function only as Secrets Manager ARNs; the
    # redaction key itself is for command-line runs only.
    secret_values = {"cequence_client_secret", "cequence_redact_key"}
    assert function_keys - secret_values <= set(env), function_keys - set(env)
    assert not secret_values & set(env)
    for name in settings:
        assert env[name] in (f"${{var.{name}}}", f"${{tostring(var.{name})}}"), (name, env[name])
    # Terraform's http:// allowance must reach the function, or its cold start refuses the endpoint.
    assert env["cequence_allow_insecure_endpoints"] == "${tostring(var.allow_insecure_endpoints)}"
    # Refused batches are parked on the queue that already receives failed events.
    assert env["cequence_failure_queue_url"] == "${aws_sqs_queue.failures.url}"


def test_plain_secret_only_reaches_secrets_manager(cfg):
    pattern = re.compile(r"var\.cequence_client_secret\b(?!_version)")
    users = []
    for rtype, named in cfg.resources.items():
        for name, body in named.items():
            if pattern.search(repr(body)):
                users.append(f"{rtype}.{name}")
    assert users == ["aws_secretsmanager_secret_version.client_secret"]
    assert not pattern.search(repr(cfg.locals))
    assert not pattern.search(repr(cfg.outputs))
    version = cfg.resource("aws_secretsmanager_secret_version", "client_secret")
    assert version["secret_id"] == "${aws_secretsmanager_secret.client_secret.id}"
    assert version["secret_string_wo"] == "${var.cequence_client_secret}"
    assert version["secret_string_wo_version"] == "${var.cequence_client_secret_version}"


def test_no_secret_string_argument_exists(cfg):
    """Secrets reach Secrets Manager only through write-only arguments, so no
    secret value is ever stored in the state (secret_string would be)."""
    for name, text in cfg.text.items():
        assert not re.search(r"^\s*secret_string\s*=", text, re.MULTILINE), f"{name}: secret_string argument"
        assert not re.search(r"^\s*secret_binary\s*=", text, re.MULTILINE), f"{name}: secret_binary argument"
    versions = cfg.resources["aws_secretsmanager_secret_version"]
    assert versions
    for name, version in versions.items():
        assert "secret_string_wo" in version and "secret_string_wo_version" in version, name


def test_every_role_has_the_permissions_boundary(cfg):
    roles = cfg.resources.get("aws_iam_role", {})
    assert roles, "no aws_iam_role parsed"
    for name, role in roles.items():
        assert role.get("permissions_boundary") == "${local.permissions_boundary_arn}", name
    assert cfg.locals["permissions_boundary_arn"] == (
        "arn:${local.partition}:iam::${local.account_id}:policy/${var.permissions_boundary_policy_name}")
    # The boundary itself is not created here: a deployer that could edit it could lift it.
    assert "aws_iam_policy" not in cfg.resources


def test_boundary_allows_every_action_of_the_function_role(cfg):
    import fnmatch
    import json

    boundary = json.loads((ROOT / "policies" / "cequence-cf-passive-boundary-policy.json").read_text())
    allowed = []
    for statement in boundary["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        allowed.extend(a.lower() for a in actions)
    role_policies = [p["policy"] for p in cfg.resources["aws_iam_role_policy"].values()]
    documents = [re.search(r"aws_iam_policy_document\.(\w+)", p).group(1) for p in role_policies]
    for doc in documents:
        for statement in cfg.policy_document(doc):
            for action in statement["actions"]:
                assert any(fnmatch.fnmatch(action.lower(), pattern) for pattern in allowed), (doc, action)


def test_async_invoke_config(cfg):
    invoke = cfg.resource("aws_lambda_function_event_invoke_config", "forwarder")
    assert invoke["function_name"] == "${aws_lambda_function.forwarder.function_name}"
    assert invoke["maximum_retry_attempts"] == 2
    assert invoke["maximum_event_age_in_seconds"] == "${var.maximum_event_age_s}"
    on_failure = block(block(invoke["destination_config"])["on_failure"])
    assert on_failure["destination"] == "${aws_sqs_queue.failures.arn}"


def test_failure_queue_retention_and_encryption(cfg):
    queue = cfg.resource("aws_sqs_queue", "failures")
    assert queue["message_retention_seconds"] == 1209600 == 14 * 24 * 3600
    assert queue.get("sqs_managed_sse_enabled") is True or "kms_master_key_id" in queue


# ---------------------------------------------------------------------------
# S3 notification and the Lambda permission
# ---------------------------------------------------------------------------


def test_notification(cfg):
    notification = cfg.resource("aws_s3_bucket_notification", "logs")
    target = block(notification["lambda_function"])
    assert target["events"] == ["s3:ObjectCreated:*"]
    assert target["filter_prefix"] == "${var.log_prefix}"
    assert target["lambda_function_arn"] == "${aws_lambda_function.forwarder.arn}"
    assert notification["depends_on"] == ["${aws_lambda_permission.s3_invoke}"]
    assert "aws_s3_bucket.logs" in notification["bucket"]
    assert "var.existing_bucket_name" in notification["bucket"]


def test_lambda_permission(cfg):
    permission = cfg.resource("aws_lambda_permission", "s3_invoke")
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["principal"] == "s3.amazonaws.com"
    assert permission["function_name"] == "${aws_lambda_function.forwarder.function_name}"
    assert permission["source_arn"] == "${local.bucket_arn}"
    assert permission["source_account"] == "${local.account_id}"
    assert cfg.locals["bucket_arn"] == "arn:${local.partition}:s3:::${local.bucket_name}"
    assert cfg.locals["account_id"] == "${data.aws_caller_identity.current.account_id}"


# ---------------------------------------------------------------------------
# Log bucket
# ---------------------------------------------------------------------------

BUCKET_RESOURCES = [
    "aws_s3_bucket", "aws_s3_bucket_public_access_block", "aws_s3_bucket_ownership_controls",
    "aws_s3_bucket_server_side_encryption_configuration", "aws_s3_bucket_lifecycle_configuration",
    "aws_s3_bucket_policy",
]


def test_bucket_resources_only_without_existing_bucket(cfg):
    assert cfg.locals["create_bucket"] == '${var.existing_bucket_name == ""}'
    for rtype in BUCKET_RESOURCES:
        assert cfg.resource(rtype, "logs")["count"] == "${local.create_bucket ? 1 : 0}", rtype


def test_public_access_block(cfg):
    pab = cfg.resource("aws_s3_bucket_public_access_block", "logs")
    for key in ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]:
        assert pab[key] is True, key
    assert pab["bucket"] == "${aws_s3_bucket.logs[0].id}"


def test_encryption_at_rest(cfg):
    sse = cfg.resource("aws_s3_bucket_server_side_encryption_configuration", "logs")
    default = block(block(sse["rule"])["apply_server_side_encryption_by_default"])
    assert default["sse_algorithm"] in ("AES256", "aws:kms")


def test_lifecycle_expiry(cfg):
    lifecycle = cfg.resource("aws_s3_bucket_lifecycle_configuration", "logs")
    rule = block(lifecycle["rule"])
    assert rule["status"] == "Enabled"
    assert block(rule["expiration"])["days"] == "${var.log_retention_days}"
    assert cfg.variables["log_retention_days"]["default"] == 7


def test_bucket_policy_tls_only(cfg):
    policy = cfg.resource("aws_s3_bucket_policy", "logs")
    assert policy["policy"] == "${data.aws_iam_policy_document.log_bucket.json}"
    deny = statement_by_sid(cfg.policy_document("log_bucket"), "DenyInsecureTransport")
    assert deny["effect"] == "Deny"
    assert deny["actions"] == ["s3:*"]
    assert deny["resources"] == ["${local.bucket_arn}", "${local.bucket_arn}/*"]
    assert block(deny["principals"]) == {"type": "*", "identifiers": ["*"]}
    assert block(deny["condition"]) == {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}


def test_bucket_policy_v2_log_delivery(cfg):
    allow = statement_by_sid(cfg.policy_document("log_bucket"), "AllowCloudFrontV2LogDelivery")
    assert allow["effect"] == "Allow"
    assert allow["actions"] == ["s3:PutObject"]
    assert allow["resources"] == ["${local.log_objects_arn}"]
    assert cfg.locals["log_objects_arn"] == "${local.bucket_arn}/${var.log_prefix}*"
    assert block(allow["principals"]) == {"type": "Service", "identifiers": ["delivery.logs.amazonaws.com"]}
    conditions = {c["variable"]: c for c in allow["condition"]}
    assert conditions["aws:SourceAccount"] == {
        "test": "StringEquals", "variable": "aws:SourceAccount", "values": ["${local.account_id}"]}
    assert conditions["aws:SourceArn"] == {
        "test": "ArnLike", "variable": "aws:SourceArn", "values": "${local.delivery_source_arns}"}
    assert conditions["s3:x-amz-acl"]["values"] == ["bucket-owner-full-control"]
    assert cfg.locals["delivery_source_arns"].startswith("${concat([local.delivery_source_arn], [")
    # Only our delivery sources (the enable script's CequenceCloudFront-<ID>).
    assert cfg.locals["delivery_source_arn"] == (
        "arn:${local.partition}:logs:us-east-1:${local.account_id}:delivery-source:CequenceCloudFront-*")
    common = (ROOT / "scripts" / "lib" / "common.sh").read_text()
    assert 'CF_SOURCE_PREFIX="CequenceCloudFront-"' in common


def test_bucket_policy_v2_acl_check_statement(cfg):
    """The statement CloudWatch Logs would otherwise append itself (drift)."""
    check = statement_by_sid(cfg.policy_document("log_bucket"), "AllowCloudFrontV2LogDeliveryAclCheck")
    assert sorted(check["actions"]) == ["s3:GetBucketAcl", "s3:ListBucket"]
    assert check["resources"] == ["${local.bucket_arn}"]
    assert block(check["principals"]) == {"type": "Service", "identifiers": ["delivery.logs.amazonaws.com"]}
    conditions = {c["variable"]: c for c in check["condition"]}
    assert conditions["aws:SourceArn"]["values"] == "${local.delivery_source_arns}"
    assert conditions["aws:SourceAccount"]["values"] == ["${local.account_id}"]


def test_bucket_policy_denies_tls_older_than_1_2(cfg):
    deny = statement_by_sid(cfg.policy_document("log_bucket"), "DenyTlsOlderThan12")
    assert deny["effect"] == "Deny"
    assert deny["actions"] == ["s3:*"]
    assert deny["resources"] == ["${local.bucket_arn}", "${local.bucket_arn}/*"]
    assert block(deny["condition"]) == {"test": "NumericLessThan", "variable": "s3:TlsVersion", "values": ["1.2"]}


def test_partition_and_canonical_user_from_data_sources(cfg):
    assert cfg.locals["partition"] == "${data.aws_partition.current.partition}"
    assert cfg.locals["awslogsdelivery_canonical_id"] == (
        "${data.aws_cloudfront_log_delivery_canonical_user_id.current.id}")
    for name, text in cfg.text.items():
        code = [line for line in text.splitlines()
                if not re.match(r"\s*(#|description\s*=|error_message\s*=)", line)]
        assert "arn:aws:" not in "\n".join(code), f"{name}: literal partition in an ARN"
        assert "c4c1ede66af53448b93c283ce9448c4ba468c9432aa01d700d3878632f77d2d0" not in text, name


def test_object_ownership_and_legacy_acl(cfg):
    ownership = cfg.resource("aws_s3_bucket_ownership_controls", "logs")
    assert block(ownership["rule"])["object_ownership"] == (
        '${var.legacy_logging ? "BucketOwnerPreferred" : "BucketOwnerEnforced"}')
    acl = cfg.resource("aws_s3_bucket_acl", "logs")
    assert acl["count"] == "${local.create_bucket && var.legacy_logging ? 1 : 0}"
    grants = block(acl["access_control_policy"])["grant"]
    grantee_ids = {block(g["grantee"])["id"]: g["permission"] for g in grants}
    assert grantee_ids["${local.awslogsdelivery_canonical_id}"] == "FULL_CONTROL"
    assert "${aws_s3_bucket_ownership_controls.logs}" in acl["depends_on"]


# ---------------------------------------------------------------------------
# IAM: least privilege
# ---------------------------------------------------------------------------

EXPECTED_LAMBDA_STATEMENTS = {
    "ReadLogObjects": (["s3:GetObject"], ["${local.log_objects_arn}"]),
    "ListLogObjects": (["s3:ListBucket"], ["${local.bucket_arn}"]),
    # The checkpoint tag of a retried object (contract section 7), on the log objects only.
    "CheckpointLogObjects": (
        ["s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging"],
        ["${local.log_objects_arn}"],
    ),
    "ReadDistributionTags": (
        ["cloudfront:ListTagsForResource"],
        ["arn:${local.partition}:cloudfront::${local.account_id}:distribution/*"],
    ),
    "ReadClientSecret": (["secretsmanager:GetSecretValue"], ["${aws_secretsmanager_secret.client_secret.arn}"]),
    "SendFailedEvents": (["sqs:SendMessage"], ["${aws_sqs_queue.failures.arn}"]),
    "WriteOwnLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], ["${aws_cloudwatch_log_group.lambda.arn}:*"]),
}


def test_trust_policy(cfg):
    statement = block(cfg.policy_document("lambda_assume_role"))
    assert statement["actions"] == ["sts:AssumeRole"]
    assert block(statement["principals"]) == {"type": "Service", "identifiers": ["lambda.amazonaws.com"]}
    role = cfg.resource("aws_iam_role", "lambda")
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.lambda_assume_role.json}"


def test_lambda_policy_statements_exact(cfg):
    statements = cfg.policy_document("lambda")
    assert {s["sid"] for s in statements} == set(EXPECTED_LAMBDA_STATEMENTS)
    for sid, (actions, resources) in EXPECTED_LAMBDA_STATEMENTS.items():
        statement = statement_by_sid(statements, sid)
        assert statement.get("effect", "Allow") == "Allow", sid
        assert sorted(statement["actions"]) == sorted(actions), sid
        assert statement["resources"] == resources, sid
    policy = cfg.resource("aws_iam_role_policy", "lambda")
    assert policy["role"] == "${aws_iam_role.lambda.id}"
    assert policy["policy"] == "${data.aws_iam_policy_document.lambda.json}"
    # ListBucket only for listings under the log prefix.
    listing = statement_by_sid(statements, "ListLogObjects")
    assert block(listing["condition"]) == {
        "test": "StringLike", "variable": "s3:prefix", "values": ["${var.log_prefix}*"]}


def test_redaction_key_only_when_enabled_and_never_in_state(cfg):
    assert cfg.locals["redact_enabled"] == '${var.cequence_redact != ""}'
    secret = cfg.resource("aws_secretsmanager_secret", "redact_key")
    assert secret["count"] == "${local.redact_enabled ? 1 : 0}"
    assert secret["name"] == "${local.redact_key_secret_name}"
    assert cfg.locals["redact_key_secret_name"].startswith("${var.name_prefix}-")
    version = cfg.resource("aws_secretsmanager_secret_version", "redact_key")
    assert version["count"] == "${local.redact_enabled ? 1 : 0}"
    assert version["secret_string_wo"] == "${ephemeral.random_password.redact_key[0].result}"
    assert "ephemeral \"random_password\" \"redact_key\"" in cfg.text["lambda.tf"]
    env = cfg.locals["lambda_environment_all"]
    assert env["cequence_redact"] == "${var.cequence_redact}"
    assert env["cequence_redact_key_secret_arn"] == (
        '${local.redact_enabled ? aws_secretsmanager_secret.redact_key[0].arn : ""}')
    # The function may read that secret, and only when redaction is on.
    policy = cfg.resource("aws_iam_role_policy", "lambda_redact")
    assert policy["count"] == "${local.redact_enabled ? 1 : 0}"
    statement = statement_by_sid(cfg.policy_document("lambda_redact"), "ReadRedactKey")
    assert statement["actions"] == ["secretsmanager:GetSecretValue"]
    assert statement["resources"] == ["${aws_secretsmanager_secret.redact_key[0].arn}"]


def test_redact_validation_accepts_the_documented_syntax(cfg):
    condition = _validation_conditions(cfg.variables["cequence_redact"])
    pattern = re.search(r'regex\("(.*)", var\.cequence_redact\)', condition).group(1)
    pattern = pattern.replace("\\\\", "\\")
    for good in ["", "cookie-values", "cookie-values,query:token,header:authorization", "header:x-api-key"]:
        assert re.fullmatch(pattern, good), good
    for bad in ["cookies", "query:", "header:a b", "cookie-values,", "query:token, header:x"]:
        assert not re.fullmatch(pattern, bad), bad


def test_xray_permissions_only_when_enabled(cfg):
    statement = block(cfg.policy_document("lambda_xray"))
    assert sorted(statement["actions"]) == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    assert statement["resources"] == ["*"]  # X-Ray has no resource-level permissions.
    policy = cfg.resource("aws_iam_role_policy", "lambda_xray")
    assert policy["count"] == "${var.enable_xray ? 1 : 0}"
    assert policy["policy"] == "${data.aws_iam_policy_document.lambda_xray.json}"


def test_no_wildcards_in_allow_statements(cfg):
    # (document, sid) of the statements whose actions have no resource-level
    # permission: X-Ray, and ListDistributions for the real-time cs-host lookup.
    allowed_star_resources = {("lambda_xray", "WriteXRayTraces"), ("lambda_realtime", "FindDistributionByDomain")}
    for doc_name, doc in cfg.data["aws_iam_policy_document"].items():
        for statement in doc["statement"]:
            if statement.get("effect", "Allow") != "Allow":
                continue
            for action in statement.get("actions", []):
                assert "*" not in action, f"{doc_name}/{statement.get('sid')}: wildcard action {action}"
            if (doc_name, statement.get("sid")) not in allowed_star_resources:
                assert "*" not in statement.get("resources", []), f"{doc_name}/{statement.get('sid')}"


# ---------------------------------------------------------------------------
# Alarms
# ---------------------------------------------------------------------------

EXPECTED_ALARMS = {
    # name: (namespace, metric, dimension key, dimension value)
    "lambda_errors": ("AWS/Lambda", "Errors", "FunctionName", "${aws_lambda_function.forwarder.function_name}"),
    "failure_queue": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${aws_sqs_queue.failures.name}"),
    "failed_batches": ("CequenceCfPassive", "FailedBatches", "FunctionName",
                       "${aws_lambda_function.forwarder.function_name}"),
}


def test_alarms(cfg):
    alarms = dict(cfg.resources["aws_cloudwatch_metric_alarm"])
    # Opt-in with realtime_logs; tested in test_realtime.py.
    alarms.pop("realtime_iterator_age")
    assert set(alarms) == set(EXPECTED_ALARMS)
    for name, (namespace, metric, dim_key, dim_value) in EXPECTED_ALARMS.items():
        alarm = alarms[name]
        assert alarm["namespace"] == namespace, name
        assert alarm["metric_name"] == metric, name
        assert alarm["dimensions"] == {dim_key: dim_value}, name
        assert alarm["comparison_operator"] == "GreaterThanThreshold", name
        assert alarm["threshold"] == 0, name
        assert alarm["treat_missing_data"] == "notBreaching", name
        assert alarm["alarm_actions"] == "${local.alarm_actions}", name
        assert "count" not in alarm, f"{name} must exist without alarm_email"


def test_alarm_topic_only_with_email(cfg):
    topic = cfg.resource("aws_sns_topic", "alarms")
    assert topic["count"] == '${var.alarm_email == "" ? 0 : 1}'
    subscription = cfg.resource("aws_sns_topic_subscription", "alarm_email")
    assert subscription["count"] == '${var.alarm_email == "" ? 0 : 1}'
    assert subscription["protocol"] == "email"
    assert subscription["endpoint"] == "${var.alarm_email}"
    assert cfg.locals["alarm_actions"] == "${[for topic in aws_sns_topic.alarms : topic.arn]}"


# ---------------------------------------------------------------------------
# Outputs, example tfvars, checkov skips
# ---------------------------------------------------------------------------

REQUIRED_OUTPUTS = [
    "log_bucket_name", "log_bucket_created", "partition", "log_bucket_arn", "log_prefix",
    "lambda_function_name", "lambda_function_arn",
    "lambda_log_group_name", "failure_queue_url", "failure_queue_arn", "aws_region", "account_id",
    "legacy_logging", "legacy_logging_bucket_domain", "delivery_destination_resource_arn",
]


def test_outputs(cfg):
    for name in REQUIRED_OUTPUTS:
        assert name in cfg.outputs, name
        assert cfg.outputs[name].get("description"), f"output {name} has no description"
    assert cfg.outputs["legacy_logging_bucket_domain"]["value"] == "${local.bucket_name}.s3.amazonaws.com"
    assert cfg.outputs["delivery_destination_resource_arn"]["value"] == (
        '${local.bucket_arn}/${trimsuffix(var.log_prefix, "/")}')
    assert cfg.outputs["lambda_log_group_name"]["value"] == "${aws_cloudwatch_log_group.lambda.name}"
    assert cfg.outputs["failure_queue_url"]["value"] == "${aws_sqs_queue.failures.url}"
    # disable --destroy empties the whole bucket only when Terraform created it.
    assert cfg.outputs["log_bucket_created"]["value"] == "${local.create_bucket}"
    for output in cfg.outputs.values():
        assert "cequence_client_secret}" not in repr(output)


def test_tfvars_example_names_only_known_variables(cfg):
    example = _strip_meta(_load_file(TF_DIR / "terraform.tfvars.example"))
    assert set(REQUIRED_VARIABLES) <= set(example)
    assert set(example) <= set(cfg.variables), set(example) - set(cfg.variables)


def test_checkov_skips_have_reasons(cfg):
    skip = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")
    found = 0
    for name, text in cfg.text.items():
        for match in skip.finditer(text):
            found += 1
            assert re.fullmatch(r"CKV2?_AWS_\d+", match.group(1)), match.group(0)
            assert match.group(2) and len(match.group(2).strip()) >= 30, f"{name}: {match.group(0)} needs a reason"
    assert found > 0


def test_missing_zip_message_names_the_one_build_script(cfg):
    fn = cfg.resource("aws_lambda_function", "forwarder")
    messages = [p["error_message"] for p in block(fn["lifecycle"])["precondition"]]
    zip_message = [m for m in messages if "zip" in m]
    assert zip_message and "scripts/build-lambda.sh" in zip_message[0]
    assert "cargo lambda" not in " ".join(cfg.text.values())
