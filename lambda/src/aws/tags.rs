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

    /// The invoked function's ARN, which names the partition and account.
    fn learn_from_function_arn(&self, _function_arn: &str) {}
}

pub const ENABLED_TAG: &str = "cequence-enabled";

/// CloudFront tag lookups with a TTL cache. Failed lookups are not cached.
#[derive(Debug)]
pub struct CloudFrontTags {
    client: aws_sdk_cloudfront::Client,
    /// (partition, account) from the invoked function's ARN, else from
    /// `sts:GetCallerIdentity` (which needs no IAM permission), once per
    /// container: no partition is written into the code (`aws`, `aws-cn`,
    /// `aws-us-gov` all work).
    identity: tokio::sync::OnceCell<(String, String)>,
    sts: aws_sdk_sts::Client,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, TagState)>>,
}

impl CloudFrontTags {
    pub fn new(
        client: aws_sdk_cloudfront::Client,
        sts: aws_sdk_sts::Client,
        function_arn: Option<&str>,
        ttl: Duration,
    ) -> Self {
        CloudFrontTags {
            client,
            identity: tokio::sync::OnceCell::new_with(function_arn.and_then(identity_from_arn)),
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
        let (partition, account) = self
            .identity
            .get_or_try_init(|| async {
                let identity = self.sts.get_caller_identity().send().await.map_err(|e| {
                    format!("cannot find the AWS account id (sts:GetCallerIdentity): {e}")
                })?;
                identity
                    .arn()
                    .and_then(identity_from_arn)
                    .ok_or_else(|| "sts:GetCallerIdentity returned no usable ARN".to_string())
            })
            .await?;
        let arn = format!("arn:{partition}:cloudfront::{account}:distribution/{id}");
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

    /// Sets the partition and account once (from the invoked function's ARN).
    fn learn_from_function_arn(&self, function_arn: &str) {
        if let Some(identity) = identity_from_arn(function_arn) {
            let _ = self.identity.set(identity);
        }
    }
}

/// The partition and account of an ARN
/// (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`), e.g. the invoked
/// function's or the caller identity's.
pub fn identity_from_arn(arn: &str) -> Option<(String, String)> {
    let mut parts = arn.split(':');
    if parts.next()? != "arn" {
        return None;
    }
    let partition = parts.next().filter(|p| !p.is_empty())?;
    let account = parts.nth(2).filter(|a| !a.is_empty())?;
    Some((partition.to_string(), account.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_and_account_from_arns() {
        let pair = |p: &str, a: &str| Some((p.to_string(), a.to_string()));
        assert_eq!(
            identity_from_arn(
                "arn:aws:lambda:us-east-1:123456789012:function:cequence-cf-passive-lambda-ab"
            ),
            pair("aws", "123456789012")
        );
        assert_eq!(
            identity_from_arn("arn:aws-cn:lambda:cn-north-1:123456789012:function:f"),
            pair("aws-cn", "123456789012")
        );
        assert_eq!(
            identity_from_arn("arn:aws-us-gov:sts::123456789012:assumed-role/r/s"),
            pair("aws-us-gov", "123456789012")
        );
        assert_eq!(identity_from_arn("nonsense"), None);
        assert_eq!(identity_from_arn("arn:aws:s3:::bucket"), None);
    }
}
