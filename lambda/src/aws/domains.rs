//! Which distribution a real-time record's `cs-host` belongs to (contract §8):
//! CloudFront `ListDistributions` (paginated), every distribution's
//! `DomainName` (`d111111abcdef8.cloudfront.net`, what `cs-host` holds) and
//! its exact aliases, cached per container like the tag.
//!
//! The whole account is listed at once: a stream serves few distributions,
//! one listing answers every domain, and `ListDistributions` cannot be
//! scoped to one domain anyway. A domain that no distribution has is
//! answered from the same listing for [`NEGATIVE_TTL`] at most, so a
//! distribution created a moment ago is found soon, while a stream full of
//! an unknown host does not list the account per record.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tracing::warn;

use super::{describe_sdk_error, AdapterFuture};

/// How long a domain that maps to no distribution is answered without
/// listing again (capped by the cache TTL).
pub const NEGATIVE_TTL: Duration = Duration::from_secs(60);

/// Finds the distribution whose domain is `domain` (lower-case). `Ok(None)`:
/// none has it. Errors are retryable by nature.
pub trait DistributionDomains: Send + Sync {
    fn distribution_for_domain<'a>(
        &'a self,
        domain: &'a str,
    ) -> AdapterFuture<'a, Result<Option<String>, String>>;
}

/// A domain → id map, as listed at `at`.
#[derive(Debug)]
struct Listing {
    at: Instant,
    ids: HashMap<String, String>,
}

/// `ListDistributions` with a TTL cache.
#[derive(Debug)]
pub struct CloudFrontDomains {
    client: aws_sdk_cloudfront::Client,
    ttl: Duration,
    listing: Mutex<Option<Listing>>,
    /// Domains already reported as belonging to no distribution: one WARN
    /// per domain per container.
    warned: Mutex<HashSet<String>>,
}

impl CloudFrontDomains {
    pub fn new(client: aws_sdk_cloudfront::Client, ttl: Duration) -> Self {
        CloudFrontDomains {
            client,
            ttl,
            listing: Mutex::new(None),
            warned: Mutex::new(HashSet::new()),
        }
    }

    /// The answer from the cached listing, if it is fresh enough to give one.
    fn cached(&self, domain: &str) -> Option<Option<String>> {
        let listing = self.listing.lock().unwrap_or_else(|p| p.into_inner());
        let listing = listing.as_ref()?;
        let age = listing.at.elapsed();
        match listing.ids.get(domain) {
            Some(id) if age < self.ttl => Some(Some(id.clone())),
            None if age < self.ttl.min(NEGATIVE_TTL) => Some(None),
            _ => None,
        }
    }

    async fn list(&self) -> Result<HashMap<String, String>, String> {
        let mut ids = HashMap::new();
        let mut aliases = HashMap::new();
        let mut marker: Option<String> = None;
        loop {
            let output = self
                .client
                .list_distributions()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| format!("ListDistributions: {}", describe_sdk_error(&e)))?;
            let Some(list) = output.distribution_list() else {
                break;
            };
            for summary in list.items() {
                ids.insert(
                    summary.domain_name().to_ascii_lowercase(),
                    summary.id().to_string(),
                );
                for alias in summary.aliases().map(|a| a.items()).unwrap_or_default() {
                    // Wildcard aliases match many hosts: not a key.
                    if !alias.starts_with('*') {
                        aliases.insert(alias.to_ascii_lowercase(), summary.id().to_string());
                    }
                }
            }
            match list.next_marker().filter(|m| !m.is_empty()) {
                Some(next) if list.is_truncated() => marker = Some(next.to_string()),
                _ => break,
            }
        }
        // The CloudFront domain wins over an alias of the same name.
        for (alias, id) in aliases {
            ids.entry(alias).or_insert(id);
        }
        Ok(ids)
    }
}

impl DistributionDomains for CloudFrontDomains {
    fn distribution_for_domain<'a>(
        &'a self,
        domain: &'a str,
    ) -> AdapterFuture<'a, Result<Option<String>, String>> {
        async move {
            let found = match self.cached(domain) {
                Some(found) => found,
                None => {
                    let ids = self.list().await?;
                    let found = ids.get(domain).cloned();
                    *self.listing.lock().unwrap_or_else(|p| p.into_inner()) = Some(Listing {
                        at: Instant::now(),
                        ids,
                    });
                    found
                }
            };
            if found.is_none()
                && self
                    .warned
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(domain.to_string())
            {
                warn!("cs-host {domain} is the domain of no CloudFront distribution of this account: its real-time records are not forwarded");
            }
            Ok(found)
        }
        .boxed()
    }
}
