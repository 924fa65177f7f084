//! Secrets from Secrets Manager, read once per container: the OAuth client
//! secret and, when redaction is on, the redaction key.

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use futures_util::FutureExt;

use super::AdapterFuture;
use crate::secret::SecretString;

/// Reads the OAuth client secret named by `cequence_client_secret_arn`.
pub trait SecretReader: Send + Sync {
    fn client_secret<'a>(&'a self, arn: &'a str)
        -> AdapterFuture<'a, Result<SecretString, String>>;
}

/// The real Secrets Manager.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    pub client: aws_sdk_secretsmanager::Client,
}

impl SecretReader for SecretsManager {
    /// A raw `SecretString` is the client secret; a JSON object with a
    /// `client_secret` (or `cequence_client_secret`) key is accepted too.
    fn client_secret<'a>(
        &'a self,
        arn: &'a str,
    ) -> AdapterFuture<'a, Result<SecretString, String>> {
        async move {
            let text = self.read("cequence_client_secret_arn", arn).await?;
            Ok(SecretString::from(extract(&text)))
        }
        .boxed()
    }
}

impl SecretsManager {
    /// Reads the redaction key (`cequence_redact_key_secret_arn`). A raw
    /// `SecretString` is the key; a JSON object with a `redact_key` (or
    /// `cequence_redact_key`) key is accepted too.
    pub async fn redact_key(&self, arn: &str) -> Result<SecretString, String> {
        let text = self.read("cequence_redact_key_secret_arn", arn).await?;
        Ok(SecretString::from(extract_named(
            &text,
            &["redact_key", "cequence_redact_key"],
        )))
    }

    /// The `SecretString` of the secret `arn`, named by `setting` in errors.
    async fn read(&self, setting: &str, arn: &str) -> Result<String, String> {
        let output =
            self.client
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| {
                    format!(
                    "cannot read {setting} {arn}: {} (check secretsmanager:GetSecretValue on it)",
                    e.message().map(str::to_string).unwrap_or_else(|| e.to_string())
                )
                })?;
        output
            .secret_string()
            .map(str::to_string)
            .ok_or_else(|| format!("secret {arn} has no SecretString"))
    }
}

fn extract(text: &str) -> String {
    extract_named(text, &["client_secret", "cequence_client_secret"])
}

/// The value under the first of `keys` when `text` is a JSON object, else
/// the whole text, trimmed.
fn extract_named(text: &str, keys: &[&str]) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text) {
        for key in keys {
            if let Some(serde_json::Value::String(s)) = map.get(*key) {
                return s.clone();
            }
        }
    }
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn raw_or_json_secret() {
        assert_eq!(super::extract("abc\n"), "abc");
        assert_eq!(super::extract(r#"{"client_secret":"xyz"}"#), "xyz");
        assert_eq!(super::extract(r#"{"other":"1"}"#), r#"{"other":"1"}"#);
        let redact = ["redact_key", "cequence_redact_key"];
        assert_eq!(super::extract_named(" k1 \n", &redact), "k1");
        assert_eq!(
            super::extract_named(r#"{"cequence_redact_key":"k2"}"#, &redact),
            "k2"
        );
    }
}
