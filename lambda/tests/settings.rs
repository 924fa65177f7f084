//! The one list of settings (`lambda/settings.tsv`) and every place that
//! names settings agree: `.env.example`, the Terraform variables and the
//! README's configuration tables. (`Config` itself is tested against the list
//! in `config.rs`; the `.env` parser derives from it.)

use std::collections::BTreeSet;

use cf_passive::settings::{all, Scope};

fn repo_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn keys_where(keep: impl Fn(Scope) -> bool) -> BTreeSet<String> {
    all()
        .iter()
        .filter(|s| keep(s.scope))
        .map(|s| s.key.to_string())
        .collect()
}

fn env_example_keys() -> BTreeSet<String> {
    repo_file(".env.example")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
        .filter(|k| !k.is_empty())
        .collect()
}

fn terraform_variables() -> BTreeSet<String> {
    repo_file("terraform/variables.tf")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("variable \""))
        .filter_map(|rest| rest.split('"').next().map(str::to_string))
        .collect()
}

/// Every `key` in the first cell of the tables under `## Configuration`.
fn readme_table_keys() -> BTreeSet<String> {
    let readme = repo_file("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Configuration"))
        .expect("README has a ## Configuration section");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let first_cell = l.split('|').nth(1).unwrap_or_default();
            first_cell
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn difference(a: &BTreeSet<String>, b: &BTreeSet<String>) -> Vec<String> {
    a.difference(b).cloned().collect()
}

#[test]
fn env_example_has_every_setting_a_user_sets_and_nothing_else() {
    let settable = keys_where(|s| matches!(s, Scope::Function | Scope::Terraform | Scope::Script));
    let example = env_example_keys();
    assert_eq!(
        difference(&settable, &example),
        Vec::<String>::new(),
        "settings missing from .env.example"
    );
    assert_eq!(
        difference(&example, &settable),
        Vec::<String>::new(),
        ".env.example keys that are not settable settings in settings.tsv"
    );
}

#[test]
fn every_function_and_terraform_setting_is_a_terraform_variable() {
    let deployed = keys_where(|s| matches!(s, Scope::Function | Scope::Terraform));
    let variables = terraform_variables();
    assert_eq!(
        difference(&deployed, &variables),
        Vec::<String>::new(),
        "settings without a Terraform variable"
    );
    let not_deployed = keys_where(|s| matches!(s, Scope::Script | Scope::Internal));
    let wrongly = not_deployed
        .intersection(&variables)
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(
        wrongly,
        Vec::<String>::new(),
        "script/internal settings must not be Terraform variables"
    );
}

#[test]
fn the_readme_tables_list_every_setting_and_only_settings() {
    let listed = keys_where(|_| true);
    let readme = readme_table_keys();
    assert_eq!(
        difference(&listed, &readme),
        Vec::<String>::new(),
        "settings missing from the README's configuration tables"
    );
    assert_eq!(
        difference(&readme, &listed),
        Vec::<String>::new(),
        "README configuration keys that are not in settings.tsv"
    );
}

#[test]
fn settings_holding_a_secret_value_are_marked_secret() {
    for setting in all() {
        if setting.key.contains("secret") && !setting.key.ends_with("_arn") {
            assert!(setting.secret, "{} holds a secret", setting.key);
        }
    }
}
