//! The one list of settings, `lambda/settings.tsv`, compiled into the binary.
//! `Config` is tested against it, unknown `cequence_*` variables are named
//! with a "did you mean", and `--help` lists the settings each command reads.

use std::sync::LazyLock;

/// Who reads a setting and where it is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read by the function; set in `.env` and passed by Terraform.
    Function,
    /// A deployment setting: a Terraform variable only.
    Terraform,
    /// Read by the operator scripts only.
    Script,
    /// Read by the function, set by Terraform itself (not in `.env`).
    Internal,
}

/// One row of `settings.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: &'static str,
    pub kind: &'static str,
    pub scope: Scope,
    pub required: bool,
    pub secret: bool,
    /// `None` for `-` (no default).
    pub default: Option<&'static str>,
    pub description: &'static str,
}

impl Setting {
    /// Whether the function (Lambda or command line) reads it from its environment.
    pub fn read_by_function(&self) -> bool {
        matches!(self.scope, Scope::Function | Scope::Internal) && self.key.starts_with("cequence_")
    }
}

/// The file's text, as built into the binary.
pub const SETTINGS_TSV: &str = include_str!("../settings.tsv");

/// Parses the settings table. Errors name the line.
pub fn parse(text: &'static str) -> Result<Vec<Setting>, String> {
    let mut rows = Vec::new();
    let mut header_seen = false;
    for (index, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let columns: Vec<&'static str> = line.split('\t').collect();
        if !header_seen {
            header_seen = true;
            if columns.first() == Some(&"key") {
                continue;
            }
        }
        let [key, kind, scope, required, secret, default, description] = columns[..] else {
            return Err(format!(
                "settings.tsv line {}: expected 7 tab-separated columns, got {}",
                index + 1,
                columns.len()
            ));
        };
        let scope = match scope {
            "function" => Scope::Function,
            "terraform" => Scope::Terraform,
            "script" => Scope::Script,
            "internal" => Scope::Internal,
            other => {
                return Err(format!(
                    "settings.tsv line {}: unknown scope {other:?}",
                    index + 1
                ))
            }
        };
        let yes_no = |value: &str, column: &str| match value {
            "yes" => Ok(true),
            "no" => Ok(false),
            other => Err(format!(
                "settings.tsv line {}: {column} must be yes or no, got {other:?}",
                index + 1
            )),
        };
        rows.push(Setting {
            key,
            kind,
            scope,
            required: yes_no(required, "required")?,
            secret: yes_no(secret, "secret")?,
            default: (default != "-").then_some(default),
            description,
        });
    }
    Ok(rows)
}

static SETTINGS: LazyLock<Vec<Setting>> =
    LazyLock::new(|| parse(SETTINGS_TSV).expect("lambda/settings.tsv is well formed (tested)"));

/// Every setting, in the file's order.
pub fn all() -> &'static [Setting] {
    &SETTINGS
}

/// The setting named `key` (exact, lower-case).
pub fn find(key: &str) -> Option<&'static Setting> {
    all().iter().find(|s| s.key == key)
}

/// The closest setting the function reads, for a name that is not one.
pub fn did_you_mean(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    all()
        .iter()
        .filter(|s| s.read_by_function())
        .map(|s| (edit_distance(&name, s.key), s.key))
        .filter(|(distance, key)| *distance <= (key.len() / 4).max(2))
        .min()
        .map(|(_, key)| key)
}

/// Levenshtein distance over bytes (setting names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// A `--help` section listing the function settings given, with defaults.
pub fn help_section(keys: &[&str]) -> String {
    let mut text =
        String::from("Settings read (environment variables; see lambda/settings.tsv):\n");
    for key in keys {
        let Some(setting) = find(key) else { continue };
        let default = match (setting.default, setting.required) {
            (Some(default), _) => format!(" [default: {default}]"),
            (None, true) => " [required]".to_string(),
            (None, false) => String::new(),
        };
        let choices = setting
            .kind
            .strip_prefix("enum:")
            .map(|c| format!(" (one of: {})", c.replace('|', ", ")))
            .unwrap_or_default();
        text.push_str(&format!(
            "  {key}{default}\n      {}{choices}\n",
            setting.description
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses_and_keys_are_unique() {
        let rows = parse(SETTINGS_TSV).unwrap();
        assert!(rows.len() > 20);
        let mut keys: Vec<&str> = rows.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "duplicate keys in settings.tsv");
        assert!(find("cequence_client_secret").unwrap().secret);
    }

    #[test]
    fn a_malformed_row_is_named_by_line() {
        let err = parse("key\ttype\n# c\nx\tstring\tfunction\n").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        let err = parse("a\tstring\tsomewhere\tno\tno\t-\td\n").unwrap_err();
        assert!(err.contains("unknown scope"), "{err}");
    }

    #[test]
    fn typos_get_the_closest_setting() {
        assert_eq!(
            did_you_mean("cequence_batchsize"),
            Some("cequence_batch_size")
        );
        assert_eq!(
            did_you_mean("CEQUENCE_LOG_LEVL"),
            Some("cequence_log_level")
        );
        assert_eq!(
            did_you_mean("cequence_edge_endpiont"),
            Some("cequence_edge_endpoint")
        );
        assert_eq!(did_you_mean("cequence_something_else_entirely"), None);
        // Terraform-only settings are not suggested for the function.
        assert_eq!(did_you_mean("cequence_aws_region"), None);
    }

    #[test]
    fn help_lists_defaults_and_required_settings() {
        let help = help_section(&["cequence_batch_size", "cequence_client_id"]);
        assert!(
            help.contains("cequence_batch_size [default: 500]"),
            "{help}"
        );
        assert!(help.contains("cequence_client_id [required]"), "{help}");
        let help = help_section(&["cequence_auth_style"]);
        assert!(help.contains("(one of: basic, body)"), "{help}");
    }
}
