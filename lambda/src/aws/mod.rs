//! AWS adapters, each a thin client behind the narrow trait beside it, so the
//! application layer (and its tests, with in-memory fakes) sees only the trait:
//! `s3` (log objects and their checkpoint tag), `tags` (the distributions'
//! `cequence-enabled` tag), `domains` (a real-time record's `cs-host` → its
//! distribution), `secrets` (the client secret), `sqs` (the failure
//! queue), `kinesis` (real-time records read back for a replay). Nothing here
//! imports from `app`.

use futures_util::future::BoxFuture;

pub mod domains;
pub mod kinesis;
pub mod s3;
pub mod secrets;
pub mod sqs;
pub mod tags;

/// The future an adapter trait method returns (boxed, so the traits can be
/// used as `dyn` objects and swapped for fakes).
pub type AdapterFuture<'a, T> = BoxFuture<'a, T>;

/// An AWS SDK error as one line: the service's message, else the error chain.
pub(crate) fn describe_sdk_error<E>(e: &E) -> String
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata,
{
    e.message().map(str::to_string).unwrap_or_else(|| {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(inner) = source {
            text = format!("{text}: {inner}");
            source = inner.source();
        }
        text
    })
}
