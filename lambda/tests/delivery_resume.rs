//! Delivery's side of checkpointed retries: it skips the batches a selection
//! leaves out, keeps at most `max_in_flight` batches ahead of the oldest
//! unsettled one, and reports the contiguous settled prefix even when
//! batches complete out of order.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use cf_passive::core::batch::Batch;
use cf_passive::core::checkpoint::BatchSelection;
use cf_passive::core::object::ObjectId;
use cf_passive::core::parse::Record;
use cf_passive::core::transaction::{map_record, required, Origin};
use cf_passive::core::wire::{Encoder, ENVELOPE_CLOSE, ENVELOPE_OPEN};
use cf_passive::delivery::{idempotency_key, Delivery};
use cf_passive_testkit::schema::valid_batch;
use common::*;

fn object() -> ObjectId {
    ObjectId::new("cf-logs", "E27FO14I29XXXX.2024-01-31-23.resume.gz").with_version("v1")
}

/// Batch `index`: one v2 transaction `t<index>`, made by the forwarder's own
/// mapping and encoder (the receiver refuses anything else).
fn batch(index: u64) -> Batch {
    let id = format!("t{index}");
    let record = Record::from_pairs([
        ("date", "2024-01-31"),
        ("time", "23:01:02"),
        ("c-ip", "192.0.2.1"),
        ("cs-method", "GET"),
        ("cs-uri-stem", "/"),
        ("sc-status", "200"),
        ("x-edge-request-id", id.as_str()),
    ]);
    let fields = required(&record).unwrap();
    let tx = map_record(
        &record,
        fields,
        "E27FO14I29XXXX",
        Origin {
            log_object: "s3://cf-logs/E27FO14I29XXXX.2024-01-31-23.resume.gz",
            redactor: None,
        },
    );
    let mut body = ENVELOPE_OPEN.to_vec();
    Encoder::default().write_transaction(&mut body, &tx);
    body.extend_from_slice(ENVELOPE_CLOSE);
    valid_batch(&body);
    Batch {
        index,
        transactions: 1,
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skips_the_checkpoint_and_reports_the_settled_prefix() {
    let failing = idempotency_key(&object(), 9);
    // Random stalls and errors reorder completions; batch 9 never gets through.
    let s = servers(&format!("500,ok,reset,ok,ok,429,ok,500,503@key={failing}")).await;
    let max_in_flight = 4;
    let delivery = Delivery::new(s.settings(max_in_flight, Duration::from_millis(1500))).unwrap();
    let mut sending = delivery.object_with(object(), BatchSelection::From(5));
    for index in 0..30 {
        sending.send(batch(index)).await;
        if sending.is_failing() {
            break;
        }
    }
    let report = sending.finish().await;
    assert_eq!(report.skipped_batches, 5);
    assert_eq!(report.settled_prefix, 9, "{report:?}");
    for index in 0..5 {
        assert_eq!(
            s.attempts(&idempotency_key(&object(), index)),
            0,
            "batch {index} skipped"
        );
    }
    let ahead = (10..30)
        .filter(|i| s.delivered(&idempotency_key(&object(), *i)) > 0)
        .count();
    assert!(
        ahead < max_in_flight,
        "{ahead} delivered past the failed batch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_exactly_the_selected_batches() {
    let s = servers("").await;
    let delivery = Delivery::new(s.settings(2, Duration::from_secs(2))).unwrap();
    let only: BTreeSet<u64> = [2, 7].into();
    let mut sending = delivery.object_with(object(), BatchSelection::Only(only.clone()));
    for index in 0..10 {
        sending.send(batch(index)).await;
    }
    let report = sending.finish().await;
    assert_eq!((report.batches_sent, report.skipped_batches), (2, 8));
    for index in 0..10 {
        let want = usize::from(only.contains(&index));
        assert_eq!(
            s.attempts(&idempotency_key(&object(), index)),
            want,
            "batch {index}"
        );
    }
}
