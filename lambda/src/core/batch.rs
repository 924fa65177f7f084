//! Cuts encoded transactions into request bodies (JSON arrays).

/// One request body for the bridge: a JSON array of transactions, uncompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// 0-based position of this batch within its object; feeds the `Idempotency-Key`.
    pub index: u64,
    /// Number of transactions in `body`.
    pub transactions: usize,
    /// `[tx,tx,...]`, UTF-8 JSON, never empty.
    pub body: Vec<u8>,
}
