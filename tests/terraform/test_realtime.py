"""Structure tests of the real-time log path (terraform/realtime.tf,
variables_realtime.tf) and the dashboard (dashboard.tf), parsed offline with
python-hcl2 like test_terraform.py: the stream, the log configuration, the
event source mapping, the IAM statements, the alarm and the dashboard's
metrics.
"""

from __future__ import annotations

import re

import pytest

from test_terraform import ROOT, TF_DIR, Config, block, statement_by_sid

REALTIME_RS = ROOT / "lambda" / "src" / "core" / "realtime.rs"
REPORT_RS = ROOT / "lambda" / "src" / "report.rs"
STREAM_ARN = "${aws_kinesis_stream.realtime[0].arn}"
REQUIRED_FIELDS = ["timestamp", "c-ip", "cs-method", "cs-uri-stem", "sc-status"]


@pytest.fixture(scope="module")
def cfg() -> Config:
    return Config(TF_DIR)


def rust_realtime_fields() -> list[str]:
    """REALTIME_FIELDS of core/realtime.rs, the list the function validates against."""
    text = REALTIME_RS.read_text(encoding="utf-8")
    body = re.search(r"pub const REALTIME_FIELDS: &\[&str\] = &\[(.*?)\];", text, re.S)
    assert body, "REALTIME_FIELDS not found in core/realtime.rs"
    return re.findall(r'"([^"]+)"', body.group(1))


def emitted_metrics() -> set[str]:
    """Metric names the function declares in its Embedded Metric Format lines."""
    text = REPORT_RS.read_text(encoding="utf-8")
    return set(re.findall(r'\{"Name": "([A-Za-z]+)", "Unit"', text))


# ---------------------------------------------------------------------------
# Variables
# ---------------------------------------------------------------------------

REALTIME_VARIABLES = {
    # name: (type, default, validated)
    "realtime_logs": ("bool", False, False),
    "realtime_sampling_rate": ("number", 100, True),
    "realtime_stream_mode": ("string", "ON_DEMAND", True),
    "realtime_shard_count": ("number", 1, True),
    "realtime_retention_hours": ("number", 24, True),
    "realtime_kms_key_arn": ("string", "", True),
    "realtime_batch_size": ("number", 500, True),
    "realtime_batching_window_s": ("number", 5, True),
    "realtime_max_retries": ("number", 10, True),
    "realtime_max_record_age_s": ("number", 21600, True),
    "realtime_iterator_age_alarm_ms": ("number", 300000, True),
    "dashboard": ("bool", True, False),
}


def _type(var: dict) -> str:
    return str(var.get("type", "")).replace("${", "").replace("}", "").replace(" ", "")


def test_realtime_variables_are_typed_defaulted_and_validated(cfg):
    for name, (vtype, default, validated) in REALTIME_VARIABLES.items():
        var = cfg.variables[name]
        assert _type(var) == vtype, name
        assert var["default"] == default, name
        assert len(var.get("description", "")) >= 30, name
        assert bool(var.get("validation")) == validated, name
    fields = cfg.variables["realtime_fields"]
    assert _type(fields) == "list(string)"
    assert len(fields["validation"]) == 3


def test_realtime_is_off_by_default_and_every_resource_follows_the_switch(cfg):
    assert cfg.variables["realtime_logs"]["default"] is False
    assert cfg.locals["realtime_count"] == "${var.realtime_logs ? 1 : 0}"
    text = cfg.text["realtime.tf"]
    names = re.findall(r'^(resource|data) "([a-z0-9_]+)" "([a-z0-9_]+)"', text, re.M)
    assert len(names) >= 9
    for kind, rtype, name in names:
        body = (cfg.resources if kind == "resource" else cfg.data)[rtype][name]
        if (rtype, name) == ("aws_iam_policy_document", "realtime_cloudfront_assume_role"):
            continue  # a data source without API calls, usable with count 0
        assert body.get("count") == "${local.realtime_count}", f"{rtype}.{name}"


def test_sampling_rate_validation_is_1_to_100(cfg):
    condition = block(cfg.variables["realtime_sampling_rate"]["validation"])["condition"]
    for part in ["var.realtime_sampling_rate >= 1", "var.realtime_sampling_rate <= 100", "floor("]:
        assert part in condition


def test_default_fields_are_known_complete_and_in_record_order(cfg):
    known = cfg.locals["realtime_known_fields"]
    assert known == rust_realtime_fields(), "Terraform and the function must know the same fields, in the same order"
    default = cfg.variables["realtime_fields"]["default"]
    assert set(default) <= set(known)
    assert default == [f for f in known if f in default], "the default is written in record order"
    for field in REQUIRED_FIELDS + ["cs-headers", "cs-headers-count", "primary-distribution-id", "cs-host",
                                    "cs-accept", "c-country", "asn"]:
        assert field in default, field
    assert len(",".join(default)) < 1024, "the list travels in the function's 4 KB environment"


def test_fields_reach_the_log_config_and_the_function_in_record_order(cfg):
    assert cfg.locals["realtime_fields"] == (
        "${[for field in local.realtime_known_fields : field if contains(var.realtime_fields, field)]}")
    assert cfg.locals["realtime_fields_env"] == '${var.realtime_logs ? join(",", local.realtime_fields) : ""}'
    config = cfg.resource("aws_cloudfront_realtime_log_config", "realtime")
    assert config["fields"] == "${local.realtime_fields}"
    precondition = block(block(config["lifecycle"])["precondition"])
    assert precondition["condition"] == "${length(local.realtime_unknown) == 0}"
    assert cfg.locals["realtime_unknown"] == (
        "${[for field in var.realtime_fields : field if !contains(local.realtime_known_fields, field)]}")


# ---------------------------------------------------------------------------
# Stream and log configuration
# ---------------------------------------------------------------------------


def test_stream_is_encrypted_on_demand_and_named_for_the_deployer_policy(cfg):
    stream = cfg.resource("aws_kinesis_stream", "realtime")
    assert stream["name"] == "${local.realtime_name}"
    assert cfg.locals["realtime_name"] == "${var.name_prefix}-realtime-${local.suffix}"
    assert stream["encryption_type"] == "KMS"
    assert stream["kms_key_id"] == "${local.realtime_stream_kms_id}"
    assert cfg.locals["realtime_stream_kms_id"] == (
        '${var.realtime_kms_key_arn == "" ? "alias/aws/kinesis" : var.realtime_kms_key_arn}')
    assert block(stream["stream_mode_details"])["stream_mode"] == "${var.realtime_stream_mode}"
    assert stream["shard_count"] == '${var.realtime_stream_mode == "PROVISIONED" ? var.realtime_shard_count : null}'
    assert stream["retention_period"] == "${var.realtime_retention_hours}"


def test_log_config_writes_to_the_stream_through_its_role(cfg):
    config = cfg.resource("aws_cloudfront_realtime_log_config", "realtime")
    assert config["sampling_rate"] == "${var.realtime_sampling_rate}"
    endpoint = block(config["endpoint"])
    assert endpoint["stream_type"] == "Kinesis"
    kinesis = block(endpoint["kinesis_stream_config"])
    assert kinesis == {"role_arn": "${aws_iam_role.realtime_cloudfront[0].arn}", "stream_arn": STREAM_ARN}
    assert config["depends_on"] == ["${aws_iam_role_policy.realtime_cloudfront}"]


# ---------------------------------------------------------------------------
# IAM: CloudFront's role and the function's read access
# ---------------------------------------------------------------------------


def test_cloudfront_role_trusts_cloudfront_only(cfg):
    statement = block(cfg.policy_document("realtime_cloudfront_assume_role"))
    assert statement["actions"] == ["sts:AssumeRole"]
    assert block(statement["principals"]) == {"type": "Service", "identifiers": ["cloudfront.amazonaws.com"]}
    role = cfg.resource("aws_iam_role", "realtime_cloudfront")
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.realtime_cloudfront_assume_role.json}"
    assert role["name"] == "${local.realtime_role_name}"


def _dynamic_statements(doc: dict) -> list[dict]:
    found = []
    for dyn in doc.get("dynamic", []):
        statement = dyn.get("statement")
        if statement:
            found.append({"for_each": statement["for_each"], **block(statement["content"])})
    return found


def test_cloudfront_role_may_write_this_stream_only(cfg):
    doc = cfg.data["aws_iam_policy_document"]["realtime_cloudfront"]
    write = statement_by_sid(doc["statement"], "WriteRealtimeLogRecords")
    assert len(doc["statement"]) == 1
    assert sorted(write["actions"]) == sorted(
        ["kinesis:DescribeStreamSummary", "kinesis:DescribeStream", "kinesis:PutRecord", "kinesis:PutRecords"])
    assert write["resources"] == [STREAM_ARN]
    [kms] = _dynamic_statements(doc)
    assert kms["for_each"] == "${local.realtime_kms_key_arns}"
    assert kms["actions"] == ["kms:GenerateDataKey"]
    assert kms["resources"] == ["${statement.value}"]
    assert cfg.locals["realtime_kms_key_arns"] == '${var.realtime_kms_key_arn == "" ? [] : [var.realtime_kms_key_arn]}'
    policy = cfg.resource("aws_iam_role_policy", "realtime_cloudfront")
    assert policy["role"] == "${aws_iam_role.realtime_cloudfront[0].id}"
    assert policy["policy"] == "${data.aws_iam_policy_document.realtime_cloudfront[0].json}"


def test_function_may_read_this_stream_only(cfg):
    doc = cfg.data["aws_iam_policy_document"]["lambda_realtime"]
    assert len(doc["statement"]) == 2
    read = statement_by_sid(doc["statement"], "ReadRealtimeLogStream")
    # A standard Kinesis consumer: no ListStreams (the mapping names the
    # stream by ARN), no SubscribeToShard (enhanced fan-out only), no writes.
    assert sorted(read["actions"]) == sorted([
        "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
        "kinesis:GetShardIterator", "kinesis:ListShards"])
    assert read["resources"] == [STREAM_ARN]
    # The cs-host lookup (contract section 8): ListDistributions has no
    # resource-level permission, so "*" -- and nothing else on that statement.
    lookup = statement_by_sid(doc["statement"], "FindDistributionByDomain")
    assert lookup["actions"] == ["cloudfront:ListDistributions"]
    assert lookup["resources"] == ["*"]
    assert lookup.get("effect", "Allow") == "Allow" and "condition" not in lookup
    # The tag read (cequence-enabled) is the standard path's statement, already there.
    tags = statement_by_sid(cfg.policy_document("lambda"), "ReadDistributionTags")
    assert tags["actions"] == ["cloudfront:ListTagsForResource"]
    [kms] = _dynamic_statements(doc)
    assert kms["actions"] == ["kms:Decrypt"] and kms["resources"] == ["${statement.value}"]
    policy = cfg.resource("aws_iam_role_policy", "lambda_realtime")
    assert policy["role"] == "${aws_iam_role.lambda.id}"
    assert policy["policy"] == "${data.aws_iam_policy_document.lambda_realtime[0].json}"


# Statements whose resource must be "*" (IAM offers no resource-level
# permission for their only action).
STAR_RESOURCE_STATEMENTS = {("lambda_realtime", "FindDistributionByDomain"): ["cloudfront:ListDistributions"]}


def test_no_wildcards_in_realtime_policies(cfg):
    for name in ["realtime_cloudfront", "lambda_realtime", "realtime_cloudfront_assume_role"]:
        doc = cfg.data["aws_iam_policy_document"][name]
        for statement in doc["statement"] + _dynamic_statements(doc):
            assert all("*" not in action for action in statement["actions"]), name
            star_actions = STAR_RESOURCE_STATEMENTS.get((name, statement.get("sid")))
            if star_actions is not None:
                assert statement["actions"] == star_actions, name
                continue
            assert all("*" not in resource for resource in statement.get("resources", [])), name


def test_boundary_allows_the_realtime_roles_and_nothing_realtime_beyond_them():
    """The boundary holds what the function and CloudFront's role do with the
    stream, and ListDistributions for the cs-host lookup -- with Resource "*"
    only where IAM leaves no choice."""
    import json

    boundary = json.loads((ROOT / "policies" / "cequence-cf-passive-boundary-policy.json").read_text())
    by_sid = {statement["Sid"]: statement for statement in boundary["Statement"]}
    lookup = by_sid["FindDistributionByDomain"]
    assert lookup["Action"] == "cloudfront:ListDistributions" and lookup["Resource"] == "*"
    stream = by_sid["RealtimeLogStream"]
    assert stream["Resource"] == "arn:aws:kinesis:*:*:stream/cequence-cf-passive-*"
    assert set(stream["Action"]) == {
        "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
        "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords"}
    for statement in boundary["Statement"]:
        if statement["Resource"] == "*":
            assert statement["Sid"] in ("FindDistributionByDomain", "WriteXRayTraces"), statement["Sid"]


def test_realtime_names_match_the_deployer_policy(cfg):
    """The deployer policy grants the real-time resources by name: the stream
    and the log configuration cequence-cf-passive-*, the role
    cequence_cf_passive_realtime_role-*, the dashboard cequence-cf-passive-*."""
    import json

    policy = json.loads((ROOT / "policies" / "cequence-tf-iam-cf-passive-realtime-policy.json").read_text())
    resources = {statement["Sid"]: statement["Resource"] for statement in policy["Statement"]}
    assert resources["KinesisRealtimeStream"] == "arn:aws:kinesis:*:*:stream/cequence-cf-passive-*"
    assert resources["CloudFrontRealtimeLogConfig"] == "arn:aws:cloudfront::*:realtime-log-config/cequence-cf-passive-*"
    assert resources["IamRealtimeRoleManage"] == "arn:aws:iam::*:role/cequence_cf_passive_realtime_role-*"
    assert resources["CloudWatchDashboard"] == "arn:aws:cloudwatch::*:dashboard/cequence-cf-passive-*"
    assert cfg.variables["name_prefix"]["default"] == "cequence-cf-passive"
    assert cfg.locals["realtime_role_name"] == '${replace(var.name_prefix, "-", "_")}_realtime_role-${local.suffix}'
    assert cfg.resource("aws_cloudfront_realtime_log_config", "realtime")["name"] == "${local.realtime_name}"
    assert cfg.resource("aws_iam_role", "realtime_cloudfront")["permissions_boundary"] == "${local.permissions_boundary_arn}"
    assert cfg.resource("aws_cloudwatch_metric_alarm", "realtime_iterator_age")["alarm_name"].startswith(
        "${var.name_prefix}-")


def test_function_gets_the_field_list_only_with_realtime_logs(cfg):
    assert cfg.locals["lambda_environment_all"]["cequence_realtime_fields"] == "${local.realtime_fields_env}"
    # Empty without realtime_logs, so lambda_environment drops it.
    assert cfg.locals["realtime_fields_env"].endswith(': ""}')


# ---------------------------------------------------------------------------
# Event source mapping and alarm
# ---------------------------------------------------------------------------


def test_event_source_mapping_reports_partial_failures_and_is_bounded(cfg):
    mapping = cfg.resource("aws_lambda_event_source_mapping", "realtime")
    assert mapping["event_source_arn"] == STREAM_ARN
    assert mapping["function_name"] == "${aws_lambda_function.forwarder.arn}"
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["bisect_batch_on_function_error"] is True
    assert mapping["maximum_retry_attempts"] == "${var.realtime_max_retries}"
    assert mapping["maximum_record_age_in_seconds"] == "${var.realtime_max_record_age_s}"
    assert mapping["batch_size"] == "${var.realtime_batch_size}"
    assert mapping["maximum_batching_window_in_seconds"] == "${var.realtime_batching_window_s}"
    assert mapping["starting_position"] == "TRIM_HORIZON"
    on_failure = block(block(mapping["destination_config"])["on_failure"])
    assert on_failure["destination_arn"] == "${aws_sqs_queue.failures.arn}"
    assert "${aws_iam_role_policy.lambda_realtime}" in mapping["depends_on"]
    # Bounded: never -1 (infinite) retries or record age.
    retries = block(cfg.variables["realtime_max_retries"]["validation"])["condition"]
    assert ">= 0" in retries and "<= 10000" in retries
    age = block(cfg.variables["realtime_max_record_age_s"]["validation"])["condition"]
    assert ">= 60" in age and "<= 604800" in age
    precondition = block(block(mapping["lifecycle"])["precondition"])
    assert precondition["condition"] == "${var.realtime_max_record_age_s <= var.realtime_retention_hours * 3600}"


def test_default_record_age_fits_the_default_retention(cfg):
    """With the defaults, Lambda gives up on a batch (and describes it to the
    failure queue) while the stream still holds it, so replay --from-dlq can
    read it back."""
    age = cfg.variables["realtime_max_record_age_s"]["default"]
    retention_s = cfg.variables["realtime_retention_hours"]["default"] * 3600
    assert 0 < age < retention_s
    assert cfg.variables["realtime_stream_mode"]["default"] == "ON_DEMAND"
    assert cfg.variables["realtime_sampling_rate"]["default"] == 100


def test_iterator_age_alarm(cfg):
    alarm = cfg.resource("aws_cloudwatch_metric_alarm", "realtime_iterator_age")
    assert alarm["namespace"] == "AWS/Lambda"
    assert alarm["metric_name"] == "IteratorAge"
    assert alarm["dimensions"] == {"FunctionName": "${aws_lambda_function.forwarder.function_name}"}
    assert alarm["statistic"] == "Maximum"
    assert alarm["threshold"] == "${var.realtime_iterator_age_alarm_ms}"
    assert alarm["comparison_operator"] == "GreaterThanThreshold"
    assert alarm["treat_missing_data"] == "notBreaching"
    assert alarm["alarm_actions"] == "${local.alarm_actions}"


def test_every_output_the_scripts_read_exists(cfg):
    """enable/disable read Terraform outputs by name (tf_output NAME): a
    renamed output would silently read as empty."""
    used = set()
    for script in [*(ROOT / "scripts").glob("*.sh"), *(ROOT / "scripts" / "lib").glob("*.sh")]:
        used |= set(re.findall(r"\$\(tf_output ([a-z_]+)\)", script.read_text(encoding="utf-8")))
    assert "realtime_log_config_arn" in used
    assert used <= set(cfg.outputs), used - set(cfg.outputs)


def test_realtime_outputs(cfg):
    for name in ["realtime_log_config_arn", "realtime_sampling_rate", "realtime_stream_name", "realtime_stream_arn",
                 "realtime_fields", "dashboard_name"]:
        assert cfg.outputs[name].get("description"), name
    assert cfg.outputs["realtime_log_config_arn"]["value"] == "${one(aws_cloudfront_realtime_log_config.realtime[*].arn)}"
    assert cfg.outputs["realtime_fields"]["value"] == "${local.realtime_fields_env}"
    assert cfg.outputs["realtime_sampling_rate"]["value"] == "${var.realtime_logs ? var.realtime_sampling_rate : null}"


# ---------------------------------------------------------------------------
# Dashboard
# ---------------------------------------------------------------------------

# Shown on the dashboard but not yet written by lambda/src/report.rs: the
# function must add them to its EMF line (the issue lists them).
PENDING_METRICS = {"SkippedDisabled", "Batches"}


def test_dashboard_shows_what_the_function_emits(cfg):
    widgets = cfg.locals["dashboard_function_widgets"]
    shown = {metric for _title, metrics in widgets for metric, _stat in metrics}
    emitted = emitted_metrics()
    assert {"TransactionsSent", "FailedBatches", "Malformed"} <= emitted, "report.rs parsing broke"
    assert emitted <= shown, f"emitted but not on the dashboard: {emitted - shown}"
    assert shown - emitted <= PENDING_METRICS, f"on the dashboard but never emitted: {shown - emitted - PENDING_METRICS}"
    for title, metrics in widgets:
        assert title and metrics
        for _metric, stat in metrics:
            assert stat in ("Sum", "Maximum"), title


def test_dashboard_resource_and_realtime_row(cfg):
    dashboard = cfg.resource("aws_cloudwatch_dashboard", "forwarder")
    assert dashboard["count"] == "${var.dashboard ? 1 : 0}"
    assert dashboard["dashboard_body"] == "${jsonencode({widgets = local.dashboard_widgets})}"
    assert cfg.locals["dashboard_name"] == "${var.name_prefix}-${local.suffix}"
    text = cfg.text["dashboard.tf"]
    # The real-time row exists only with the stream, and shows the iterator age.
    assert "for stream in aws_kinesis_stream.realtime[*]" in text
    assert '"AWS/Lambda", "IteratorAge"' in text
    assert '"CequenceCfPassive", metric[0], "FunctionName", local.dashboard_function' in text
