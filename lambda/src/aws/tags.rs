//! The `cequence-enabled` tag check (contract §5) with `ListTagsForResource`,
//! cached per container for `cequence_tag_cache_s`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_cloudfront::error::ProvideErrorMetadata;
use futures_util::FutureExt;

use super::AdapterFuture;

/// The `cequence-enabled` state of a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagState {
    Enabled,
    Disabled,
    /// The distribution does not exist (`NoSuchResource`).
    Missing,
}

/// Looks up a distribution's `cequence-enabled` tag (CloudFront in
/// production; a map in tests). Errors are retryable by nature. Where the
/// check is turned off there is no `TagSource` at all (`None`).
pub trait TagSource: Send + Sync {
    fn tag_state<'a>(
        &'a self,
        distribution_id: &'a str,
    ) -> AdapterFuture<'a, Result<TagState, String>>;

    /// The invoked function's account, when the event tells it.
    fn learn_account_id(&self, _account_id: &str) {}
}

pub const ENABLED_TAG: &str = "cequence-enabled";

/// CloudFront tag lookups with a TTL cache. Failed lookups are not cached.
#[derive(Debug)]
pub struct CloudFrontTags {
    client: aws_sdk_cloudfront::Client,
    /// From the invoked function's ARN, else `sts:GetCallerIdentity` (which
    /// needs no IAM permission), once per container.
    account_id: tokio::sync::OnceCell<String>,
    sts: aws_sdk_sts::Client,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, TagState)>>,
}

impl CloudFrontTags {
    pub fn new(
        client: aws_sdk_cloudfront::Client,
        sts: aws_sdk_sts::Client,
        account_id: Option<String>,
        ttl: Duration,
    ) -> Self {
        CloudFrontTags {
            client,
            account_id: tokio::sync::OnceCell::new_with(account_id),
            sts,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, id: &str) -> Option<TagState> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(id)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, state)| *state)
    }

    async fn lookup(&self, id: &str) -> Result<TagState, String> {
        let account = self
            .account_id
            .get_or_try_init(|| async {
                let identity = self.sts.get_caller_identity().send().await.map_err(|e| {
                    format!("cannot find the AWS account id (sts:GetCallerIdentity): {e}")
                })?;
                identity
                    .account()
                    .map(str::to_string)
                    .ok_or_else(|| "sts:GetCallerIdentity returned no account".to_string())
            })
            .await?;
        let arn = format!("arn:aws:cloudfront::{account}:distribution/{id}");
        match self
            .client
            .list_tags_for_resource()
            .resource(&arn)
            .send()
            .await
        {
            Ok(output) => {
                let enabled = output
                    .tags()
                    .map(|tags| tags.items())
                    .unwrap_or_default()
                    .iter()
                    .any(|tag| {
                        tag.key() == ENABLED_TAG
                            && tag.value().is_some_and(|v| v.eq_ignore_ascii_case("true"))
                    });
                Ok(if enabled {
                    TagState::Enabled
                } else {
                    TagState::Disabled
                })
            }
            Err(e) if e.code() == Some("NoSuchResource") => Ok(TagState::Missing),
            Err(e) => Err(format!(
                "ListTagsForResource {arn}: {}",
                e.message()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{e}"))
            )),
        }
    }
}

impl TagSource for CloudFrontTags {
    fn tag_state<'a>(
        &'a self,
        distribution_id: &'a str,
    ) -> AdapterFuture<'a, Result<TagState, String>> {
        async move {
            if let Some(state) = self.cached(distribution_id) {
                return Ok(state);
            }
            let state = self.lookup(distribution_id).await?;
            self.cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(distribution_id.to_string(), (Instant::now(), state));
            Ok(state)
        }
        .boxed()
    }

    /// Sets the account id once (from the invoked function's ARN).
    fn learn_account_id(&self, account_id: &str) {
        let _ = self.account_id.set(account_id.to_string());
    }
}

/// The account id inside a Lambda function ARN
/// (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`).
pub fn account_from_function_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_id_from_function_arn() {
        assert_eq!(
            account_from_function_arn(
                "arn:aws:lambda:us-east-1:123456789012:function:cequence-cf-passive-lambda-ab"
            ),
            Some("123456789012")
        );
        assert_eq!(account_from_function_arn("nonsense"), None);
    }
}
