//! The layering, checked on the source: `core` imports nothing of the crate
//! outside itself (the version constants aside), `delivery` and the `aws`
//! adapters never import the application layer, and only `config.rs` reads
//! the environment.

use std::path::{Path, PathBuf};

fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path, text));
        }
    }
    assert!(!out.is_empty(), "no sources under {dir}");
    out
}

/// The crate modules a file names (`crate::x`), without the root constants.
fn crate_modules(text: &str) -> Vec<String> {
    text.match_indices("crate::")
        .map(|(at, _)| {
            text[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|m| !matches!(m.as_str(), "VERSION" | "PRODUCT"))
        .collect()
}

#[test]
fn core_imports_nothing_upward() {
    for (path, text) in sources("core") {
        for module in crate_modules(&text) {
            assert_eq!(module, "core", "{} imports crate::{module}", path.display());
        }
    }
}

#[test]
fn delivery_and_adapters_do_not_import_the_application_layer() {
    for dir in ["delivery", "aws"] {
        for (path, text) in sources(dir) {
            for module in crate_modules(&text) {
                assert!(
                    matches!(module.as_str(), "core" | "secret" | "delivery" | "aws"),
                    "{} imports crate::{module}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn only_config_reads_the_environment() {
    let all: Vec<(PathBuf, String)> = ["app", "aws", "core", "delivery"]
        .iter()
        .flat_map(|d| sources(d))
        .chain(
            ["cli.rs", "main.rs", "report.rs", "telemetry.rs", "lib.rs"]
                .iter()
                .map(|f| {
                    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(f);
                    let text = std::fs::read_to_string(&path).unwrap();
                    (path, text)
                }),
        )
        .collect();
    for (path, text) in all {
        for needle in ["std::env::var", "env::var_os", "env::vars"] {
            assert!(
                !text.contains(needle),
                "{} reads the environment",
                path.display()
            );
        }
    }
}
