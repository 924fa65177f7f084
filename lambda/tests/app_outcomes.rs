//! The application layer over in-memory fakes of the adapter traits, with
//! delivery to the real test bridge and OAuth server: the outcome of each
//! kind of failure, checkpointed retries, parked batches, and the same
//! outcome from the Lambda, `process`, `replay` and `replay --from-dlq`.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cf_passive::app::forward::Plan;
use cf_passive::app::parked::ParkedBatch;
use cf_passive::app::replay::{drain_failure_queue, replay_objects};
use cf_passive::app::sources::ObjectEvent;
use cf_passive::app::{Disposition, HandlerError, Runner};
use cf_passive::aws::tags::TagState;
use cf_passive::core::checkpoint::{batch_fingerprint, CHECKPOINT_TAG};
use cf_passive::core::object::ObjectId;
use cf_passive::delivery::idempotency_key;
use common::*;

const BUDGET: Duration = Duration::from_millis(800);

fn parts(queue: bool) -> Parts {
    Parts {
        store: Some(Arc::new(FakeStore::default())),
        tags: None,
        queue: queue.then(|| Arc::new(FakeQueue::default())),
    }
}

fn batch_key(key: &str, body: &[u8], index: u64) -> String {
    let id = ObjectId::new(BUCKET, key).with_version(format!("etag-{}", body.len()));
    idempotency_key(&id, index)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_maps_to_its_outcome() {
    let s = servers("").await;
    let p = parts(true);
    let store = p.store.clone().unwrap();
    let text = generated(1, 300);
    let good = gzip(&text);
    store.put(&key("denied"), Vec::new());
    store.put_fault(&key("denied"), FakeObject::Denied);
    store.put_fault(&key("throttled"), FakeObject::Throttled);
    store.put_fault(&key("panics"), FakeObject::Panics);
    let mut corrupt = good.clone();
    corrupt.truncate(good.len() * 2 / 3);
    store.put(&key("corrupt"), corrupt);
    let app = app(&s, &p, Runner::Lambda, 2, BUDGET, 50);

    for (name, retried) in [("denied", true), ("throttled", true), ("panics", true)] {
        let err = app.handle(&event(&[&key(name)])).await.unwrap_err();
        assert!(
            matches!(err, HandlerError::Retryable { .. }),
            "{name}: {err}"
        );
        let text = err.to_string();
        println!("{name}: {text}");
        assert!(text.contains(&key(name)), "names the object: {text}");
        assert!(text.contains("AWS retries"), "says what happens: {text}");
        assert!(retried);
    }
    let denied = app.handle(&event(&[&key("denied")])).await.unwrap_err();
    assert!(denied.to_string().contains("s3:GetObject"), "{denied}");

    let missing = app.handle(&event(&[&key("missing")])).await.unwrap();
    assert_eq!(
        missing["skipped"], 1,
        "a deleted object is acknowledged: {missing}"
    );

    let corrupt = app.handle(&event(&[&key("corrupt")])).await.unwrap();
    assert_eq!(corrupt["unreadable"], 1, "{corrupt}");
    assert!(
        corrupt["transactions"].as_u64().unwrap() > 0,
        "records before the fault are sent"
    );

    // The enabled-tag lookup fails: retry, nothing sent for that object.
    let tags = Parts {
        tags: Some(Arc::new(FakeTags(HashMap::new()))),
        ..parts(true)
    };
    tags.store
        .as_ref()
        .unwrap()
        .put(&key("tagfail"), good.clone());
    let before = s.bridge.requests().len();
    let tag_app = common::app(&s, &tags, Runner::Lambda, 2, BUDGET, 50);
    let err = tag_app
        .handle(&event(&[&key("tagfail")]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cequence-enabled"), "{err}");
    assert_eq!(s.bridge.requests().len(), before);

    // The checkpoint tag cannot be read or written (a role without the
    // tagging permissions): the object is sent from its start, not failed.
    let untaggable = parts(true);
    let store = untaggable.store.clone().unwrap();
    store.put(&key("untaggable"), good.clone());
    *store.tag_error.lock().unwrap() = Some("AccessDenied".into());
    let app_untaggable = common::app(&s, &untaggable, Runner::Lambda, 2, BUDGET, 50);
    let out = app_untaggable
        .handle(&event(&[&key("untaggable")]))
        .await
        .expect("a tag read failure is not an object failure");
    assert!(out["transactions"].as_u64().unwrap() > 0, "{out}");
    let before = s.bridge.requests().len();

    // A disabled distribution: acknowledged, nothing sent.
    let disabled = Parts {
        tags: Some(Arc::new(FakeTags(
            [(DISTRIBUTION.to_string(), TagState::Disabled)].into(),
        ))),
        ..parts(true)
    };
    disabled.store.as_ref().unwrap().put(&key("off"), good);
    let off_app = common::app(&s, &disabled, Runner::Lambda, 2, BUDGET, 50);
    let out = off_app.handle(&event(&[&key("off")])).await.unwrap();
    assert_eq!(out["transactions"], 0, "{out}");
    assert_eq!(s.bridge.requests().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_is_parked_and_no_longer_retried_by_aws() {
    let text = generated(2, 400);
    let body = gzip(&text);
    let k = key("refused");
    let refused = batch_key(&k, &body, 2);
    let s = servers(&format!("400@key={refused}")).await;
    let p = parts(true);
    p.store.as_ref().unwrap().put(&k, body.clone());
    let app = app(&s, &p, Runner::Lambda, 2, BUDGET, 50);

    let out = app
        .handle(&event(&[&k]))
        .await
        .expect("a 400 does not fail the invocation");
    assert_eq!(out["parked_batches"], 1, "{out}");
    assert_eq!(s.attempts(&refused), 1, "a 400 is sent once");
    let queue = p.queue.as_ref().unwrap();
    let bodies = queue.bodies();
    assert_eq!(bodies.len(), 1);
    let parked = ParkedBatch::from_body(&bodies[0]).expect("a parked batch");
    assert_eq!(parked.object, format!("s3://{BUCKET}/{k}"));
    assert_eq!((parked.batch, parked.status), (2, 400));
    assert_eq!(parked.version, format!("etag-{}", body.len()));
    assert!(parked.answer.contains("injected fault 400") && parked.answer.len() <= 200);
    assert!(p.store.as_ref().unwrap().tag(&k, CHECKPOINT_TAG).is_none());

    // The cause is fixed; the replay sends exactly that batch.
    s.set_faults("");
    let requests_before = s.bridge.requests().len();
    let command = common::app(&s, &p, Runner::Command, 2, BUDGET, 50);
    let drained = drain_failure_queue(&command, queue.as_ref()).await;
    assert_eq!((drained.deleted, drained.kept, drained.failures), (1, 0, 0));
    assert_eq!(
        s.bridge.requests().len(),
        requests_before + 1,
        "exactly one batch"
    );
    assert_eq!(s.delivered(&refused), 1);
    let expected = expected_ids(&text, &k);
    let received = s.received();
    assert_eq!(received.len(), expected.len(), "nothing lost");
    assert!(received.values().all(|n| *n == 1), "nothing sent twice");
    assert!(queue.bodies().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_failure_queue_a_refused_batch_fails_the_invocation() {
    let text = generated(3, 200);
    let body = gzip(&text);
    let k = key("noqueue");
    let s = servers(&format!("400@key={}", batch_key(&k, &body, 1))).await;
    let p = parts(false);
    p.store.as_ref().unwrap().put(&k, body);
    let app = app(&s, &p, Runner::Lambda, 1, BUDGET, 50);
    let err = app.handle(&event(&[&k])).await.unwrap_err();
    println!("no queue: {err}");
    assert!(err.to_string().contains("no failure queue"), "{err}");
    // The checkpoint stops before the refused batch, so the retry resends it.
    let tag = p.store.as_ref().unwrap().tag(&k, CHECKPOINT_TAG).unwrap();
    assert!(tag.starts_with("1:"), "{tag}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_resumes_after_the_checkpoint_and_removes_it() {
    let text = generated(4, 600);
    let body = gzip(&text);
    let k = key("resume");
    let failing = batch_key(&k, &body, 5);
    let max_in_flight = 3;
    let s = servers(&format!("503@key={failing}")).await;
    let p = parts(true);
    let store = p.store.clone().unwrap();
    store.put(&k, body.clone());
    let app = app(&s, &p, Runner::Lambda, max_in_flight, BUDGET, 50);

    let err = app.handle(&event(&[&k])).await.unwrap_err();
    assert!(
        err.to_string().contains("batches 0..4 are not sent again"),
        "{err}"
    );
    let fingerprint = batch_fingerprint(&options(50));
    assert_eq!(
        store.tag(&k, CHECKPOINT_TAG),
        Some(format!("5:{fingerprint}"))
    );
    // The window: nothing beyond max_in_flight - 1 batches after the failed one.
    let ahead = (6..20)
        .filter(|i| s.delivered(&batch_key(&k, &body, *i)) > 0)
        .count();
    assert!(
        ahead < max_in_flight,
        "{ahead} batches delivered past the failed one"
    );

    s.set_faults("");
    let out = app.handle(&event(&[&k])).await.unwrap();
    assert_eq!(store.tag(&k, CHECKPOINT_TAG), None, "removed after success");
    for i in 0..5 {
        assert_eq!(
            s.delivered(&batch_key(&k, &body, i)),
            1,
            "batch {i} not resent"
        );
    }
    let received = s.received();
    assert_eq!(
        id_set(&expected_ids(&text, &k)),
        received.keys().cloned().collect()
    );
    let duplicates: usize = received.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= (max_in_flight - 1) * 50,
        "{duplicates} duplicates"
    );
    assert!(out["transactions"].as_u64().unwrap() > 0);

    // Changed batch settings ignore an old checkpoint; --from-start too.
    store.set_tag_for_test(&k, "3:ffffffffffffffff");
    let requests = s.bridge.requests().len();
    app.handle(&event(&[&k])).await.unwrap();
    let batches = expected_ids(&text, &k).len().div_ceil(50);
    assert_eq!(
        s.bridge.requests().len() - requests,
        batches,
        "sent from the start"
    );
}

/// The same failure gives the same disposition whoever runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_process_replay_and_from_dlq_agree() {
    let text = generated(5, 150);
    let body = gzip(&text);
    let k = key("agree");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agree.gz");
    std::fs::write(&file, &body).unwrap();
    // max_in_flight 1 and sequential faults: the second request of each run
    // meets the fault, whatever its Idempotency-Key (local files have others).
    for (faults, want) in [
        ("ok", Disposition::Delivered),
        ("ok,400", Disposition::Parked),
        ("ok,503x400", Disposition::Retry),
    ] {
        let s = servers("").await;
        let mut seen = Vec::new();
        for runner in ["lambda", "process", "replay", "from-dlq"] {
            let p = parts(true);
            p.store.as_ref().unwrap().put(&k, body.clone());
            s.set_faults(faults);
            let r = if runner == "lambda" {
                Runner::Lambda
            } else {
                Runner::Command
            };
            let app = app(&s, &p, r, 1, BUDGET, 50);
            let disposition = match runner {
                "lambda" => {
                    let event = ObjectEvent {
                        object: ObjectId::new(BUCKET, &k),
                        size: None,
                    };
                    let direct = app.s3_object(&event, &Plan::Resume).await.disposition;
                    // And the invocation agrees with it.
                    s.set_faults(faults);
                    let p2 = parts(true);
                    p2.store.as_ref().unwrap().put(&k, body.clone());
                    let app2 = common::app(&s, &p2, Runner::Lambda, 1, BUDGET, 50);
                    let invocation = app2.handle(&common::event(&[&k])).await;
                    assert_eq!(invocation.is_err(), direct.fails_invocation(), "{faults}");
                    direct
                }
                "process" => {
                    let (outcomes, unopened) = cf_passive::app::process::process_files(
                        &app,
                        std::slice::from_ref(&file),
                        BUCKET,
                        Some(&k),
                    )
                    .await;
                    assert_eq!(unopened, 0);
                    outcomes[0].disposition
                }
                "replay" => {
                    replay_objects(&app, &[ObjectId::new(BUCKET, &k)], false).await[0].disposition
                }
                _ => {
                    let queue = p.queue.clone().unwrap();
                    queue.push(&on_failure_record(&common::event(&[&k])));
                    let drained = drain_failure_queue(&app, queue.as_ref()).await;
                    // The event's message goes once nothing needs an AWS retry.
                    let kept = queue.bodies().iter().any(|b| b.contains("requestPayload"));
                    match (kept, drained.failures) {
                        (false, 0) => Disposition::Delivered,
                        (false, _) => Disposition::Parked,
                        (true, _) => Disposition::Retry,
                    }
                }
            };
            seen.push((runner, disposition));
        }
        for (runner, disposition) in &seen {
            assert_eq!(
                *disposition, want,
                "{faults}: {runner} gave {disposition:?}: {seen:?}"
            );
        }
    }
}
