//! Raw bytes as a whole log object (plain text, or gzip if they start with
//! the gzip magic), under a legacy key with default batch limits.
#![no_main]

use cf_passive_fuzz::{check, Case};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check(&Case::new(data.to_vec()));
});
