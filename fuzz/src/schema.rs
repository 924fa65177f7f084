//! The v2 JSON Schema check (`--features schema`; `scripts/fuzz.sh` turns
//! it on when `docs/schema/` holds a transaction schema). The schema is
//! `$CF_FUZZ_SCHEMA`, else the one `docs/schema/*.json` file whose name
//! contains `transaction`.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

fn schema_path() -> PathBuf {
    if let Some(path) = std::env::var_os("CF_FUZZ_SCHEMA") {
        return PathBuf::from(path);
    }
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schema"));
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("--features schema: cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("transaction"))
        })
        .collect();
    found.sort();
    match found.as_slice() {
        [one] => one.clone(),
        _ => panic!(
            "--features schema: expected one docs/schema/*transaction*.json, found {found:?}; set CF_FUZZ_SCHEMA"
        ),
    }
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let path = schema_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let schema: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", path.display()))
    })
}

/// Panics with every violation when `transaction` does not match the schema.
pub fn validate(transaction: &Value) {
    let errors: Vec<String> = validator()
        .iter_errors(transaction)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "transaction violates the v2 schema: {errors:?}\n{transaction}"
    );
}
