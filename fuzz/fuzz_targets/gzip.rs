//! The bytes wrapped in one or more valid gzip members (cut where the input
//! says), optionally truncated to exercise the read-error path.
#![no_main]

use arbitrary::Arbitrary;
use cf_passive_fuzz::{check, gzip_members, Case};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    /// Where one member ends and the next begins (offsets modulo the length).
    cuts: Vec<u16>,
    /// Cut this many bytes off the end of the compressed object.
    truncate: Option<u8>,
    body: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let mut object = gzip_members(&input.body, &input.cuts);
    if let Some(cut) = input.truncate {
        let keep = object.len().saturating_sub(cut as usize).max(2);
        object.truncate(keep);
    }
    check(&Case::new(object));
});
