//! S3: log objects, streamed (`GetObject`, never buffered whole), and the
//! object tags that hold a retried object's checkpoint.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{Tag, Tagging};
use futures_util::FutureExt;
use tokio::io::AsyncRead;

use super::{describe_sdk_error, AdapterFuture};
use crate::core::object::ObjectId;

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

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Deleted since the event (or never there): nothing to forward.
    #[error("{object} does not exist (deleted after the event?)")]
    NotFound { object: ObjectId },
    /// Access denied and similar: fails until IAM is fixed.
    #[error("{object}: {message}; check that the function's role may {action} on the log objects")]
    Denied {
        object: ObjectId,
        action: &'static str,
        message: String,
    },
    /// Throttling, 5xx, network.
    #[error("{object}: {action} failed: {message}")]
    Transient {
        object: ObjectId,
        action: &'static str,
        message: String,
    },
}

/// Where log objects come from, and where their checkpoint tag lives (S3 in
/// production; a map in tests).
pub trait ObjectStore: Send + Sync {
    fn open<'a>(
        &'a self,
        object: &'a ObjectId,
    ) -> AdapterFuture<'a, Result<OpenedObject, StoreError>>;

    /// The value of the object's tag `name`, if it has one.
    fn get_tag<'a>(
        &'a self,
        object: &'a ObjectId,
        name: &'a str,
    ) -> AdapterFuture<'a, Result<Option<String>, StoreError>>;

    /// Sets (`Some`) or removes (`None`) the tag `name`, keeping the object's other tags.
    fn set_tag<'a>(
        &'a self,
        object: &'a ObjectId,
        name: &'a str,
        value: Option<&'a str>,
    ) -> AdapterFuture<'a, Result<(), StoreError>>;
}

/// The real S3.
#[derive(Debug, Clone)]
pub struct S3Store {
    pub client: aws_sdk_s3::Client,
}

fn store_error<E>(object: &ObjectId, action: &'static str, e: &E) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata,
{
    let message = describe_sdk_error(e);
    let object = object.clone();
    match e.code() {
        Some("NoSuchKey" | "NotFound") => StoreError::NotFound { object },
        Some("AccessDenied" | "InvalidObjectState" | "NoSuchBucket") => StoreError::Denied {
            object,
            action,
            message,
        },
        _ => StoreError::Transient {
            object,
            action,
            message,
        },
    }
}

impl S3Store {
    async fn tags(&self, object: &ObjectId) -> Result<Vec<Tag>, StoreError> {
        self.client
            .get_object_tagging()
            .bucket(&object.bucket)
            .key(&object.key)
            .send()
            .await
            .map(|out| out.tag_set().to_vec())
            .map_err(|e| store_error(object, "s3:GetObjectTagging", &e))
    }

    async fn write_tags(&self, object: &ObjectId, tags: Vec<Tag>) -> Result<(), StoreError> {
        if tags.is_empty() {
            return self
                .client
                .delete_object_tagging()
                .bucket(&object.bucket)
                .key(&object.key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| store_error(object, "s3:DeleteObjectTagging", &e));
        }
        let tagging = Tagging::builder()
            .set_tag_set(Some(tags))
            .build()
            .map_err(|e| StoreError::Transient {
                object: object.clone(),
                action: "s3:PutObjectTagging",
                message: e.to_string(),
            })?;
        self.client
            .put_object_tagging()
            .bucket(&object.bucket)
            .key(&object.key)
            .tagging(tagging)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_error(object, "s3:PutObjectTagging", &e))
    }
}

impl ObjectStore for S3Store {
    fn open<'a>(
        &'a self,
        object: &'a ObjectId,
    ) -> AdapterFuture<'a, Result<OpenedObject, StoreError>> {
        async move {
            let output = self
                .client
                .get_object()
                .bucket(&object.bucket)
                .key(&object.key)
                .send()
                .await
                .map_err(|e| store_error(object, "s3:GetObject", &e))?;
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
        .boxed()
    }

    fn get_tag<'a>(
        &'a self,
        object: &'a ObjectId,
        name: &'a str,
    ) -> AdapterFuture<'a, Result<Option<String>, StoreError>> {
        async move {
            Ok(self
                .tags(object)
                .await?
                .into_iter()
                .find(|t| t.key() == name)
                .map(|t| t.value().to_string()))
        }
        .boxed()
    }

    fn set_tag<'a>(
        &'a self,
        object: &'a ObjectId,
        name: &'a str,
        value: Option<&'a str>,
    ) -> AdapterFuture<'a, Result<(), StoreError>> {
        async move {
            // PutObjectTagging replaces the whole set: keep the owner's tags.
            let mut tags: Vec<Tag> = self
                .tags(object)
                .await?
                .into_iter()
                .filter(|t| t.key() != name)
                .collect();
            if let Some(value) = value {
                let tag = Tag::builder().key(name).value(value).build().map_err(|e| {
                    StoreError::Transient {
                        object: object.clone(),
                        action: "s3:PutObjectTagging",
                        message: e.to_string(),
                    }
                })?;
                tags.push(tag);
            }
            self.write_tags(object, tags).await
        }
        .boxed()
    }
}
