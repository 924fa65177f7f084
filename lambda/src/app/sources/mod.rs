//! Sources: what an invocation's event holds, as inputs for the core.
//!
//! Each input kind is one module here and one arm of [`Input`]; the handler
//! matches on it once. Today the handler serves one kind, S3 objects (`s3`:
//! S3 events, also wrapped in SQS/SNS or Lambda's on-failure record). The
//! Kinesis source of real-time logs (issue 11) has its event parsing in
//! `kinesis`; wiring it in is an `Input::Records` arm here and in the
//! handler (see docs/architecture.md).

pub mod kinesis;
pub mod s3;

use serde_json::Value;

pub use s3::{EventError, ObjectEvent, ParsedEvent};

/// An invocation's input, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Log objects in S3 (and records acknowledged without work).
    Objects(ParsedEvent),
}

/// Recognises an event.
pub fn recognise(event: &Value) -> Result<Input, EventError> {
    s3::parse_event(event).map(Input::Objects)
}
