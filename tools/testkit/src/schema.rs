//! The v2 wire contract's JSON Schemas (`docs/schema/`), compiled once per
//! process, for the strict bridge receiver and for every test that produces
//! transactions.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::Value;

/// `docs/schema/transaction.v2.json`.
pub const TRANSACTION_SCHEMA: &str = include_str!("../../../docs/schema/transaction.v2.json");
/// `docs/schema/batch.v2.json`.
pub const BATCH_SCHEMA: &str = include_str!("../../../docs/schema/batch.v2.json");

fn parse(text: &str, name: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

fn transaction_validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        jsonschema::draft202012::new(&parse(TRANSACTION_SCHEMA, "transaction.v2.json"))
            .unwrap_or_else(|e| panic!("transaction.v2.json is not a valid schema: {e}"))
    })
}

fn batch_validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        // The batch schema refers to the transaction schema by its `$id`;
        // embedding it as a schema resource resolves that without any I/O.
        let mut batch = parse(BATCH_SCHEMA, "batch.v2.json");
        batch["$defs"] = serde_json::json!({
            "transaction": parse(TRANSACTION_SCHEMA, "transaction.v2.json")
        });
        jsonschema::draft202012::new(&batch)
            .unwrap_or_else(|e| panic!("batch.v2.json is not a valid schema: {e}"))
    })
}

/// All the reasons `instance` is refused, `; `-joined (at most 5), with where.
fn check(validator: &Validator, instance: &Value) -> Result<(), String> {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .take(5)
        .map(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "/".to_string() } else { at };
            format!("{at}: {e}")
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Checks one transaction against `transaction.v2.json`.
pub fn check_transaction(transaction: &Value) -> Result<(), String> {
    check(transaction_validator(), transaction)
}

/// Checks a request body (`{"data":[...]}`) against `batch.v2.json`.
pub fn check_batch(body: &Value) -> Result<(), String> {
    check(batch_validator(), body)
}

/// Panics, naming the reasons, unless `transaction` is a valid v2 transaction.
#[track_caller]
pub fn assert_valid_transaction(transaction: &Value) {
    if let Err(why) = check_transaction(transaction) {
        panic!("not a valid v2 transaction: {why}\n{transaction:#}");
    }
}

/// Parses one encoded transaction and asserts it is valid; returns it.
#[track_caller]
pub fn valid_transaction(encoded: &[u8]) -> Value {
    let value: Value = serde_json::from_slice(encoded).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&encoded[..encoded.len().min(400)])
        )
    });
    assert_valid_transaction(&value);
    value
}

/// Panics unless `body` is a valid v2 batch body; returns its transactions.
#[track_caller]
pub fn valid_batch(body: &[u8]) -> Vec<Value> {
    let value: Value =
        serde_json::from_slice(body).unwrap_or_else(|e| panic!("batch body is not JSON: {e}"));
    if let Err(why) = check_batch(&value) {
        panic!("not a valid v2 batch body: {why}");
    }
    match value {
        Value::Object(mut map) => match map.remove("data") {
            Some(Value::Array(data)) => data,
            _ => unreachable!("checked by the schema"),
        },
        _ => unreachable!("checked by the schema"),
    }
}

/// A small valid v2 transaction with `transaction-id` `id`, for tests of the
/// servers themselves (the forwarder's tests use its own encoder).
pub fn sample_transaction(id: &str) -> Value {
    serde_json::json!({
        "timestamp": "1575493351.000",
        "version": "1.0",
        "transaction-id": id,
        "request": {
            "client-ip": "192.0.2.1",
            "http-method": "GET",
            "uri-query-fragment": "/",
            "connection": {"connection-ip": "192.0.2.1", "server-ip": "0.0.0.0"},
            "headers": ["host:d3d3LmV4YW1wbGUuY29t"]
        },
        "response": {"status-code": "200"},
        "txn-meta-data": {
            "source_info": {"version": "0.1.0", "type": "cloudfront", "pool_id": "E1", "instance_id": "cf-passive-cli"},
            "cloudfront": {"distribution-id": "E1", "log-object": "s3://b/k"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        let mut t = sample_transaction("x");
        t.as_object_mut().unwrap().remove("transaction-id");
        t["request"].as_object_mut().unwrap().remove("headers");
        t
    }

    #[test]
    fn the_schemas_compile_and_accept_a_minimal_transaction() {
        check_transaction(&minimal()).unwrap();
        check_batch(&json!({"data": [minimal()]})).unwrap();
    }

    #[test]
    fn deviations_are_refused_with_a_reason() {
        type Change = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "timestamp",
                Box::new(|t| t["timestamp"] = json!("1575493351")),
            ),
            (
                "timestamp",
                Box::new(|t| t["timestamp"] = json!(1575493351.0)),
            ),
            (
                "status-code",
                Box::new(|t| t["response"]["status-code"] = json!(200)),
            ),
            (
                "status-code",
                Box::new(|t| t["response"]["status-code"] = json!("20")),
            ),
            (
                "server-ip",
                Box::new(|t| {
                    t["request"]["connection"]
                        .as_object_mut()
                        .unwrap()
                        .remove("server-ip");
                }),
            ),
            (
                "headers",
                Box::new(|t| t["request"]["headers"] = json!([{"name": "host", "value": "x"}])),
            ),
            (
                "headers",
                Box::new(|t| t["request"]["headers"] = json!(["Host:eA=="])),
            ),
            (
                "headers",
                Box::new(|t| t["request"]["headers"] = json!(["host: eA=="])),
            ),
            (
                "headers",
                Box::new(|t| t["request"]["headers"] = json!(["host:eA="])),
            ),
            (
                "headers",
                Box::new(|t| t["request"]["headers"] = json!(["host:x"])),
            ),
            ("headers", Box::new(|t| t["request"]["headers"] = json!([]))),
            ("extra", Box::new(|t| t["request"]["path"] = json!("/"))),
            ("null", Box::new(|t| t["transaction-id"] = Value::Null)),
            (
                "type",
                Box::new(|t| {
                    t["txn-meta-data"]["source_info"]["type"] = json!("cloudfront-standard-log")
                }),
            ),
        ];
        for (what, change) in cases {
            let mut t = minimal();
            change(&mut t);
            assert!(check_transaction(&t).is_err(), "{what}: {t}");
        }
        for ok in ["host:", "host:eA==", "x-forwarded-for:eHk=", "a:eHl6"] {
            let mut t = minimal();
            t["request"]["headers"] = json!([ok]);
            check_transaction(&t).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn batch_envelope_rules() {
        assert!(check_batch(&json!([minimal()])).is_err(), "a bare array");
        assert!(check_batch(&json!({"data": []})).is_err(), "empty data");
        assert!(check_batch(&json!({"data": [minimal()], "x": 1})).is_err());
        let mut bad = minimal();
        bad["response"]["status"] = json!(200);
        let why = check_batch(&json!({"data": [minimal(), bad]})).unwrap_err();
        assert!(why.contains("/data/1"), "{why}");
    }
}
