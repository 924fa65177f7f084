//! Cuts encoded transactions into request bodies by count and by uncompressed
//! size, whichever comes first (contract §2). A transaction larger than the
//! byte limit is sent alone, never dropped. The envelope around the
//! transactions is the wire module's ([`super::wire`]).

use super::wire::{ENVELOPE_CLOSE, ENVELOPE_OPEN, SEPARATOR};

/// One request body for the bridge (`{"data":[...]}`), uncompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// 0-based position of this batch within its object; feeds the `Idempotency-Key`.
    pub index: u64,
    /// Number of transactions in `body`.
    pub transactions: usize,
    /// `{"data":[tx,tx,...]}`, UTF-8 JSON, never an empty `data`.
    pub body: Vec<u8>,
}

/// Batch limits (`cequence_batch_size`, `cequence_batch_max_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_transactions: usize,
    pub max_bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_transactions: 500,
            max_bytes: 1 << 20,
        }
    }
}

/// Accumulates encoded transactions; hands out full batches.
#[derive(Debug)]
pub struct Batcher {
    limits: BatchLimits,
    body: Vec<u8>,
    transactions: usize,
    next_index: u64,
}

impl Batcher {
    pub fn new(limits: BatchLimits) -> Batcher {
        Batcher {
            limits: BatchLimits {
                max_transactions: limits.max_transactions.max(1),
                max_bytes: limits
                    .max_bytes
                    .max(ENVELOPE_OPEN.len() + ENVELOPE_CLOSE.len()),
            },
            body: Vec::new(),
            transactions: 0,
            next_index: 0,
        }
    }

    /// Size of the closed body if `encoded` were appended to it.
    fn size_with(&self, encoded: &[u8]) -> usize {
        self.body.len() + SEPARATOR.len() + encoded.len() + ENVELOPE_CLOSE.len()
    }

    /// Adds one encoded transaction. Returns the batch that had to be closed
    /// to make room, if any.
    pub fn push(&mut self, encoded: &[u8]) -> Option<Batch> {
        let mut closed = None;
        if self.transactions > 0
            && (self.transactions >= self.limits.max_transactions
                || self.size_with(encoded) > self.limits.max_bytes)
        {
            closed = self.take();
        }
        if self.transactions == 0 {
            self.body.clear();
            self.body
                .reserve(self.limits.max_bytes.min(encoded.len() * 2 + 16));
            self.body.extend_from_slice(ENVELOPE_OPEN);
        } else {
            self.body.extend_from_slice(SEPARATOR);
        }
        self.body.extend_from_slice(encoded);
        self.transactions += 1;
        closed
    }

    /// Closes and returns the current batch, if it holds anything.
    pub fn take(&mut self) -> Option<Batch> {
        if self.transactions == 0 {
            return None;
        }
        let mut body = std::mem::take(&mut self.body);
        body.extend_from_slice(ENVELOPE_CLOSE);
        let batch = Batch {
            index: self.next_index,
            transactions: self.transactions,
            body,
        };
        self.next_index += 1;
        self.transactions = 0;
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(limits: BatchLimits, items: &[Vec<u8>]) -> Vec<Batch> {
        let mut b = Batcher::new(limits);
        let mut out: Vec<Batch> = items.iter().filter_map(|i| b.push(i)).collect();
        out.extend(b.take());
        out
    }

    #[test]
    fn cuts_by_count() {
        let items: Vec<Vec<u8>> = (0..5).map(|i| format!("{i}").into_bytes()).collect();
        let batches = run(
            BatchLimits {
                max_transactions: 2,
                max_bytes: 1000,
            },
            &items,
        );
        let bodies: Vec<&[u8]> = batches.iter().map(|b| b.body.as_slice()).collect();
        assert_eq!(
            bodies,
            [
                &br#"{"data":[0,1]}"#[..],
                br#"{"data":[2,3]}"#,
                br#"{"data":[4]}"#
            ]
        );
        assert_eq!(
            batches.iter().map(|b| b.index).collect::<Vec<_>>(),
            [0, 1, 2]
        );
    }

    #[test]
    fn cuts_by_bytes_and_sends_oversize_alone() {
        let items = vec![
            b"\"aa\"".to_vec(),
            b"\"bb\"".to_vec(),
            b"\"cccccccccccc\"".to_vec(),
            b"1".to_vec(),
        ];
        let batches = run(
            BatchLimits {
                max_transactions: 100,
                max_bytes: 20,
            },
            &items,
        );
        let bodies: Vec<String> = batches
            .iter()
            .map(|b| String::from_utf8(b.body.clone()).unwrap())
            .collect();
        assert_eq!(
            bodies,
            [
                r#"{"data":["aa","bb"]}"#,
                r#"{"data":["cccccccccccc"]}"#,
                r#"{"data":[1]}"#
            ]
        );
    }

    #[test]
    fn empty_input_makes_no_batch() {
        assert!(run(BatchLimits::default(), &[]).is_empty());
    }

    proptest! {
        #[test]
        fn batches_preserve_every_item_within_limits(
            sizes in proptest::collection::vec(1usize..300, 0..200),
            max_transactions in 1usize..20,
            max_bytes in 11usize..1000,
        ) {
            let items: Vec<Vec<u8>> = sizes.iter().enumerate()
                .map(|(i, n)| format!("\"{i}{}\"", "x".repeat(*n)).into_bytes())
                .collect();
            let limits = BatchLimits { max_transactions, max_bytes };
            let batches = run(limits, &items);
            let mut rebuilt = Vec::new();
            for (i, b) in batches.iter().enumerate() {
                prop_assert_eq!(b.index, i as u64);
                prop_assert!(b.transactions >= 1 && b.transactions <= max_transactions);
                prop_assert!(b.body.len() <= max_bytes || b.transactions == 1);
                let json: serde_json::Value = serde_json::from_slice(&b.body).unwrap();
                let data = json["data"].as_array().unwrap();
                prop_assert_eq!(json.as_object().unwrap().len(), 1, "only the data key");
                prop_assert_eq!(data.len(), b.transactions);
                rebuilt.extend(data.iter().map(|v| v.to_string().into_bytes()));
            }
            prop_assert_eq!(rebuilt, items);
        }
    }
}
