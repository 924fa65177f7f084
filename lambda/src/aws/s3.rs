//! S3 `GetObject`, streamed: the body is an `AsyncRead`, never buffered whole.

use std::future::Future;

use aws_sdk_s3::error::ProvideErrorMetadata;
use tokio::io::AsyncRead;

/// An opened object: its streaming body and identity.
pub struct OpenedObject {
    pub body: Box<dyn AsyncRead + Send + Unpin>,
    /// ETag without quotes (feeds the Idempotency-Key), or the version id.
    pub version: String,
    pub size: Option<u64>,
}

impl std::fmt::Debug for OpenedObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedObject")
            .field("version", &self.version)
            .field("size", &self.size)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Deleted since the event (or never there): nothing to forward.
    #[error("s3://{bucket}/{key} does not exist (deleted after the event?)")]
    NotFound { bucket: String, key: String },
    /// Access denied and similar: retrying will not help until IAM is fixed.
    #[error("s3://{bucket}/{key}: {message}; check that the function's role may s3:GetObject under the log prefix")]
    Denied {
        bucket: String,
        key: String,
        message: String,
    },
    /// Throttling, 5xx, network: retry.
    #[error("s3://{bucket}/{key}: {message}")]
    Transient {
        bucket: String,
        key: String,
        message: String,
    },
}

/// Where objects come from (S3 in production; anything in tests).
pub trait ObjectStore: Send + Sync + 'static {
    fn open(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<OpenedObject, StoreError>> + Send;
}

/// The real S3.
#[derive(Debug, Clone)]
pub struct S3Store {
    pub client: aws_sdk_s3::Client,
}

impl ObjectStore for S3Store {
    async fn open(&self, bucket: &str, key: &str) -> Result<OpenedObject, StoreError> {
        let result = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await;
        match result {
            Ok(output) => {
                let version = output
                    .e_tag()
                    .map(|t| t.trim_matches('"').to_string())
                    .or_else(|| output.version_id().map(str::to_string))
                    .unwrap_or_default();
                let size = output.content_length().and_then(|n| u64::try_from(n).ok());
                Ok(OpenedObject {
                    body: Box::new(output.body.into_async_read()),
                    version,
                    size,
                })
            }
            Err(e) => {
                let (bucket, key) = (bucket.to_string(), key.to_string());
                let message = e.message().map(str::to_string).unwrap_or_else(|| {
                    let mut text = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(inner) = source {
                        text = format!("{text}: {inner}");
                        source = inner.source();
                    }
                    text
                });
                match e.code() {
                    Some("NoSuchKey" | "NotFound") => Err(StoreError::NotFound { bucket, key }),
                    Some("AccessDenied" | "InvalidObjectState" | "NoSuchBucket") => {
                        Err(StoreError::Denied {
                            bucket,
                            key,
                            message,
                        })
                    }
                    _ => Err(StoreError::Transient {
                        bucket,
                        key,
                        message,
                    }),
                }
            }
        }
    }
}
