//! The bytes under a chosen object key, batch limits, configured field list,
//! enabled-tag answers and an early stop by the sink.
#![no_main]

use arbitrary::Arbitrary;
use cf_passive::core::batch::BatchLimits;
use cf_passive_fuzz::{check, gzip_members, Case, Gate, KEYS, LEGACY_FIELDS};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Key {
    /// One of the keys of each distribution rule.
    Known(u8),
    /// Any key at all.
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum GateChoice {
    AllowAll,
    Mask(u8),
    Fail,
}

#[derive(Debug, Arbitrary)]
struct Input {
    key: Key,
    /// Transactions per batch (0 is taken as 1, as the batcher does).
    max_transactions: u8,
    /// Bytes per batch: small, so that cuts and oversized singles happen.
    max_bytes: u16,
    /// Rows without a `#Fields` header follow the legacy order (v2 `plain`).
    plain_fields: bool,
    gate: GateChoice,
    stop_after_batches: Option<u8>,
    gzip: bool,
    body: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let key = match &input.key {
        Key::Known(i) => KEYS[*i as usize % KEYS.len()],
        Key::Other(key) => key.as_str(),
    };
    let object = if input.gzip {
        gzip_members(&input.body, &[])
    } else {
        input.body.clone()
    };
    let mut case = Case::new(object);
    case.key = key;
    case.limits = BatchLimits {
        max_transactions: input.max_transactions as usize,
        max_bytes: input.max_bytes as usize,
    };
    if input.plain_fields {
        case.plain_fields = LEGACY_FIELDS.split(' ').map(String::from).collect();
    }
    case.gate = match input.gate {
        GateChoice::AllowAll => Gate::AllowAll,
        GateChoice::Mask(m) => Gate::Mask(m),
        GateChoice::Fail => Gate::Fail,
    };
    case.stop_after_batches = input.stop_after_batches.map(u64::from);
    check(&case);
});
