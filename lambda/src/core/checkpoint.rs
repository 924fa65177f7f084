//! Checkpointed retries (contract §7): how many leading batches of an object
//! need no resend, tied to a fingerprint of the settings that cut the batches,
//! and which batches a run sends. Pure: the tag is stored by an adapter.

use sha2::{Digest, Sha256};

use super::pipeline::PipelineOptions;

/// The S3 object tag that holds the checkpoint.
pub const CHECKPOINT_TAG: &str = "cf-passive-delivered";

/// `<batches>:<fingerprint>`: the first `batches` batches of the object, cut
/// with the settings of `fingerprint`, need not be sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub batches: u64,
    pub fingerprint: String,
}

impl Checkpoint {
    /// The tag value.
    pub fn to_tag(&self) -> String {
        format!("{}:{}", self.batches, self.fingerprint)
    }

    /// Parses a tag value; anything else is `None` (and ignored: sending
    /// again is safe, skipping on a misread tag is not).
    pub fn from_tag(value: &str) -> Option<Checkpoint> {
        let (batches, fingerprint) = value.trim().split_once(':')?;
        let fingerprint_ok =
            !fingerprint.is_empty() && fingerprint.bytes().all(|b| b.is_ascii_hexdigit());
        fingerprint_ok.then_some(())?;
        Some(Checkpoint {
            batches: batches.parse().ok()?,
            fingerprint: fingerprint.to_ascii_lowercase(),
        })
    }

    /// The batches to skip when the object is processed with settings of
    /// `fingerprint`: none if the settings changed, since batch `n` may then
    /// hold other records.
    pub fn skip_for(&self, fingerprint: &str) -> u64 {
        if self.fingerprint == fingerprint {
            self.batches
        } else {
            0
        }
    }
}

/// A fingerprint of everything that decides which records land in which
/// batch: the product version (mapping and encoding), the batch limits, the
/// plain-log field order and the static extensions. 16 hex digits.
pub fn batch_fingerprint(options: &PipelineOptions) -> String {
    let mut h = Sha256::new();
    let parts = [
        crate::VERSION.to_string(),
        options.batch_limits.max_transactions.to_string(),
        options.batch_limits.max_bytes.to_string(),
        options.plain_fields.join(","),
        options.static_filter.extensions().join(","),
        // Redaction changes transaction sizes, so where batches are cut.
        options
            .redactor
            .as_ref()
            .map(|r| r.spec().to_string())
            .unwrap_or_default(),
    ];
    for part in parts {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..8])
}

/// Which batches of an object a run sends; the others are counted as skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchSelection {
    /// Batch `n` and after (0: the whole object; `n`: resume after a checkpoint).
    From(u64),
    /// Exactly these batches (a replay of parked batches).
    Only(std::collections::BTreeSet<u64>),
}

impl Default for BatchSelection {
    fn default() -> Self {
        BatchSelection::From(0)
    }
}

impl BatchSelection {
    pub fn includes(&self, index: u64) -> bool {
        match self {
            BatchSelection::From(first) => index >= *first,
            BatchSelection::Only(indexes) => indexes.contains(&index),
        }
    }

    /// The first batch index that may be sent.
    pub fn first(&self) -> u64 {
        match self {
            BatchSelection::From(first) => *first,
            BatchSelection::Only(indexes) => indexes.first().copied().unwrap_or(u64::MAX),
        }
    }
}

/// Tracks which batches are settled (delivered, or parked on the failure
/// queue) when they complete out of order, and the contiguous settled prefix:
/// the checkpoint a retry may skip.
#[derive(Debug, Clone, Default)]
pub struct SettledPrefix {
    /// Every batch below this index is settled (or was skipped).
    prefix: u64,
    /// Settled batches at or after `prefix`, waiting for the gap to close.
    ahead: std::collections::BTreeSet<u64>,
}

impl SettledPrefix {
    /// Starts with batches `0..first` already settled (skipped by a checkpoint).
    pub fn starting_at(first: u64) -> SettledPrefix {
        SettledPrefix {
            prefix: first,
            ahead: Default::default(),
        }
    }

    pub fn settle(&mut self, index: u64) {
        if index < self.prefix {
            return;
        }
        self.ahead.insert(index);
        while self.ahead.remove(&self.prefix) {
            self.prefix += 1;
        }
    }

    /// How many leading batches are settled.
    pub fn prefix(&self) -> u64 {
        self.prefix
    }

    /// Settled batches beyond the prefix (they would be re-sent by a resume).
    pub fn ahead(&self) -> usize {
        self.ahead.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tag_round_trip_and_garbage() {
        let c = Checkpoint {
            batches: 12,
            fingerprint: "0123abcd0123abcd".into(),
        };
        assert_eq!(c.to_tag(), "12:0123abcd0123abcd");
        assert_eq!(Checkpoint::from_tag(&c.to_tag()), Some(c.clone()));
        for bad in ["", "12", ":ab", "x:ab", "12:", "12:zz", "-1:ab"] {
            assert_eq!(Checkpoint::from_tag(bad), None, "{bad}");
        }
        assert_eq!(c.skip_for("0123abcd0123abcd"), 12);
        assert_eq!(c.skip_for("ffffffffffffffff"), 0, "settings changed");
    }

    #[test]
    fn fingerprint_follows_batch_settings_only() {
        let base = PipelineOptions::default();
        let f = batch_fingerprint(&base);
        assert_eq!(f.len(), 16);
        assert_eq!(f, batch_fingerprint(&base.clone()));
        let mut other = base.clone();
        other.batch_limits.max_transactions += 1;
        assert_ne!(batch_fingerprint(&other), f);
        let mut other = base.clone();
        other.plain_fields = vec!["date".into()];
        assert_ne!(batch_fingerprint(&other), f);
        let mut other = base;
        other.static_filter = crate::core::filter::StaticFilter::parse(".png");
        assert_ne!(batch_fingerprint(&other), f);
    }

    #[test]
    fn selections() {
        assert!(BatchSelection::default().includes(0));
        assert!(!BatchSelection::From(3).includes(2));
        assert!(BatchSelection::From(3).includes(3));
        let only = BatchSelection::Only([2, 5].into_iter().collect());
        assert!(only.includes(5) && !only.includes(3));
        assert_eq!(only.first(), 2);
    }

    proptest! {
        /// Whatever the completion order, the prefix is the first index not
        /// yet settled, and never moves back.
        #[test]
        fn prefix_is_the_first_gap(order in Just((0u64..20).collect::<Vec<_>>()).prop_shuffle(), stop in 0usize..20, start in 0u64..3) {
            let mut settled = SettledPrefix::starting_at(start);
            let mut last = start;
            for &i in &order[..stop] {
                settled.settle(i);
                prop_assert!(settled.prefix() >= last);
                last = settled.prefix();
            }
            let done: std::collections::BTreeSet<u64> = order[..stop].iter().copied().collect();
            let expected = (start..).find(|i| !done.contains(i)).unwrap();
            prop_assert_eq!(settled.prefix(), expected);
        }
    }
}
