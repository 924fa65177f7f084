//! AWS adapters: events, S3, CloudFront tags, Secrets Manager, the handler.
pub mod event;
pub mod handler;
pub mod kinesis_event;
pub mod s3;
pub mod secrets;
pub mod tags;
