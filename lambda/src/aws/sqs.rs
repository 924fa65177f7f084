//! SQS: the failure queue. The function parks refused batches on it (Lambda
//! itself parks failed events there as its on-failure destination), and
//! `replay --from-dlq` drains it.

use futures_util::FutureExt;

use super::{describe_sdk_error, AdapterFuture};

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub id: String,
    /// What `delete` needs.
    pub receipt: String,
    pub body: String,
}

/// The failure queue (SQS in production; a vector in tests).
pub trait FailureQueue: Send + Sync {
    /// The queue's URL, for messages to the operator.
    fn name(&self) -> &str;
    fn send<'a>(&'a self, body: &'a str) -> AdapterFuture<'a, Result<(), String>>;
    /// Up to `max` messages, hidden from other readers for `hide_s` seconds;
    /// empty when the queue is (momentarily) empty.
    fn receive(
        &self,
        max: i32,
        hide_s: i32,
    ) -> AdapterFuture<'_, Result<Vec<QueueMessage>, String>>;
    fn delete<'a>(&'a self, receipt: &'a str) -> AdapterFuture<'a, Result<(), String>>;
}

/// The real SQS queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
}

impl FailureQueue for SqsQueue {
    fn name(&self) -> &str {
        &self.url
    }

    fn send<'a>(&'a self, body: &'a str) -> AdapterFuture<'a, Result<(), String>> {
        async move {
            self.client
                .send_message()
                .queue_url(&self.url)
                .message_body(body)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    format!(
                        "sqs:SendMessage to {}: {}",
                        self.url,
                        describe_sdk_error(&e)
                    )
                })
        }
        .boxed()
    }

    fn receive(
        &self,
        max: i32,
        hide_s: i32,
    ) -> AdapterFuture<'_, Result<Vec<QueueMessage>, String>> {
        async move {
            let received = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(max.clamp(1, 10))
                .wait_time_seconds(1)
                .visibility_timeout(hide_s)
                .send()
                .await
                .map_err(|e| format!("cannot read {}: {}", self.url, describe_sdk_error(&e)))?;
            Ok(received
                .messages()
                .iter()
                .map(|m| QueueMessage {
                    id: m.message_id().unwrap_or("?").to_string(),
                    receipt: m.receipt_handle().unwrap_or_default().to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                })
                .collect())
        }
        .boxed()
    }

    fn delete<'a>(&'a self, receipt: &'a str) -> AdapterFuture<'a, Result<(), String>> {
        async move {
            self.client
                .delete_message()
                .queue_url(&self.url)
                .receipt_handle(receipt)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    format!(
                        "sqs:DeleteMessage on {}: {}",
                        self.url,
                        describe_sdk_error(&e)
                    )
                })
        }
        .boxed()
    }
}
