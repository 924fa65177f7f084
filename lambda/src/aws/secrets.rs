//! The client secret from Secrets Manager, read once per container.

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
            let output = self
                .client
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "cannot read cequence_client_secret_arn {arn}: {} (check secretsmanager:GetSecretValue on it)",
                        e.message().map(str::to_string).unwrap_or_else(|| e.to_string())
                    )
                })?;
            let text = output
                .secret_string()
                .ok_or_else(|| format!("secret {arn} has no SecretString"))?;
            Ok(SecretString::from(extract(text)))
        }
        .boxed()
    }
}

fn extract(text: &str) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text) {
        for key in ["client_secret", "cequence_client_secret"] {
            if let Some(serde_json::Value::String(s)) = map.get(key) {
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
    }
}
