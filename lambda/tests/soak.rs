//! Fault-injection soak: objects of mixed sizes through the Lambda handler
//! against the test bridge injecting random 500s, 429s, resets and stalls,
//! and a few permanent 400s, with AWS's retry behaviour simulated (a failed
//! event is invoked again up to twice, then put on the failure queue), then
//! `replay --from-dlq` once the cause is fixed. Bounded in count and time;
//! prints its figures. Seed: CF_PASSIVE_SOAK_SEED (default 7).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cf_passive::app::parked::ParkedBatch;
use cf_passive::app::replay::drain_failure_queue;
use cf_passive::app::Runner;
use cf_passive::core::object::ObjectId;
use cf_passive::delivery::idempotency_key;
use common::*;
use futures_util::stream::{self, StreamExt};

const OBJECTS: usize = 50;
const BATCH_SIZE: usize = 100;
const MAX_IN_FLIGHT: usize = 4;
const BUDGET: Duration = Duration::from_millis(1500);
/// AWS invokes an asynchronous event at most three times.
const INVOCATIONS: usize = 3;

struct Object {
    key: String,
    body: Vec<u8>,
    expected: Vec<String>,
}

impl Object {
    fn batch_key(&self, index: u64) -> String {
        let id = ObjectId::new(BUCKET, &self.key).with_version(format!("etag-{}", self.body.len()));
        idempotency_key(&id, index)
    }
    fn batches(&self) -> u64 {
        (self.expected.len() as u64).div_ceil(BATCH_SIZE as u64)
    }
}

/// A random fault plan: mostly `ok`, some transient faults, a few bursts
/// long enough to spend an object's retry budget.
fn fault_plan(rng: &mut fastrand::Rng, steps: usize) -> String {
    let mut plan = Vec::with_capacity(steps);
    for _ in 0..steps {
        let step = match rng.u32(0..1000) {
            0..=39 => "500".to_string(),
            40..=69 => "429".to_string(),
            70..=89 => "reset".to_string(),
            90..=94 => "stall:1.2".to_string(),
            95..=99 => "503x20".to_string(),
            _ => "ok".to_string(),
        };
        plan.push(step);
    }
    plan.join(",")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_nothing_lost_under_faults() {
    let started = Instant::now();
    let seed: u64 = std::env::var("CF_PASSIVE_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let mut rng = fastrand::Rng::with_seed(seed);
    let sizes = [15u64, 120, 450, 900, 1800];
    let objects: Vec<Object> = (0..OBJECTS)
        .map(|i| {
            let records = sizes[rng.usize(0..sizes.len())] + rng.u64(0..50);
            let text = generated(seed * 1000 + i as u64, records);
            let key = key(&format!("soak{i}"));
            Object {
                expected: expected_ids(&text, &key),
                body: gzip(&text),
                key,
            }
        })
        .collect();

    // A few batches the bridge refuses for good (until "fixed").
    let mut refused: BTreeSet<(usize, u64)> = BTreeSet::new();
    while refused.len() < 4 {
        let i = rng.usize(0..OBJECTS);
        let batches = objects[i].batches();
        if batches > 0 {
            refused.insert((i, rng.u64(0..batches)));
        }
    }
    // And a few the bridge cannot take until it is fixed (503 on every
    // attempt): their events use up AWS's retries and land on the queue.
    let mut outage: BTreeSet<(usize, u64)> = BTreeSet::new();
    while outage.len() < 2 {
        let i = rng.usize(0..OBJECTS);
        let batches = objects[i].batches();
        if batches > 1 && !refused.iter().any(|(r, _)| *r == i) {
            outage.insert((i, rng.u64(1..batches)));
        }
    }
    let mut plan = fault_plan(&mut rng, 3000);
    for (i, b) in &refused {
        plan.push_str(&format!(",400@key={}", objects[*i].batch_key(*b)));
    }
    for (i, b) in &outage {
        plan.push_str(&format!(",503@key={}", objects[*i].batch_key(*b)));
    }
    let s = servers(&plan).await;
    let parts = Parts {
        store: Some(Arc::new(FakeStore::default())),
        tags: None,
        queue: Some(Arc::new(FakeQueue::default())),
    };
    for o in &objects {
        parts.store.as_ref().unwrap().put(&o.key, o.body.clone());
    }
    let lambda = app(
        &s,
        &parts,
        Runner::Lambda,
        MAX_IN_FLIGHT,
        BUDGET,
        BATCH_SIZE,
    );
    let queue = parts.queue.clone().unwrap();

    // Each object in its own event, as S3 sends them; AWS's retries simulated.
    let invocations: Vec<(usize, usize)> = stream::iter(0..OBJECTS)
        .map(|i| {
            let lambda = &lambda;
            let objects = &objects;
            let queue = queue.clone();
            async move {
                let event = event(&[&objects[i].key]);
                for attempt in 1..=INVOCATIONS {
                    if lambda.handle(&event).await.is_ok() {
                        return (i, attempt);
                    }
                }
                queue.push(&on_failure_record(&event));
                (i, INVOCATIONS + 1)
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let retries: HashMap<usize, usize> = invocations.iter().map(|(i, n)| (*i, n - 1)).collect();
    let failed_events = invocations.iter().filter(|(_, n)| *n > INVOCATIONS).count();
    let bodies = queue.bodies();
    let parked: BTreeSet<(String, u64)> = bodies
        .iter()
        .filter_map(|b| ParkedBatch::from_body(b))
        .map(|p| (p.key, p.batch))
        .collect();
    for (i, b) in &refused {
        assert!(
            parked.contains(&(objects[*i].key.clone(), *b)),
            "refused batch {b} of object {i} is on the failure queue"
        );
    }
    assert!(
        failed_events >= outage.len(),
        "the outage's events are on the failure queue"
    );
    let received_before_replay: usize = s.received().values().sum();

    // The cause is fixed: the operator replays the failure queue.
    s.set_faults("");
    let operator = app(
        &s,
        &parts,
        Runner::Command,
        MAX_IN_FLIGHT,
        BUDGET,
        BATCH_SIZE,
    );
    let drained = tokio::time::timeout(
        Duration::from_secs(60),
        drain_failure_queue(&operator, queue.as_ref()),
    )
    .await
    .expect("the replay finishes");
    assert!(
        queue.bodies().is_empty(),
        "the queue is drained: {:?}",
        queue.bodies()
    );

    let received = s.received();
    let expected_total: usize = objects.iter().map(|o| o.expected.len()).sum();
    let lost: usize = objects
        .iter()
        .flat_map(|o| o.expected.iter())
        .filter(|id| !received.contains_key(*id))
        .count();
    let duplicates: usize = received.values().map(|n| n - 1).sum();
    for (i, b) in &refused {
        assert_eq!(
            s.delivered(&objects[*i].batch_key(*b)),
            1,
            "refused batch {b} of object {i} delivered by the replay"
        );
    }
    // Duplicated batches per object never exceed max_in_flight per retry
    // (a replay from the failure queue counts as one more).
    let mut duplicate_batches = 0;
    for (i, o) in objects.iter().enumerate() {
        let extra: usize = (0..o.batches())
            .map(|b| s.delivered(&o.batch_key(b)).saturating_sub(1))
            .sum();
        duplicate_batches += extra;
        let resends = retries[&i];
        assert!(
            extra <= MAX_IN_FLIGHT * resends,
            "object {i}: {extra} batches sent twice over {resends} retries"
        );
    }
    let stats = s.bridge.stats();
    println!(
        "soak seed={seed}: {OBJECTS} objects, {expected_total} transactions in {} batches; \
         requests {} by status {:?}; invocations retried {} times, {failed_events} events to the failure queue, \
         {} batches parked; replay deleted {} kept {}; received {} before the replay, {} in all; \
         lost {lost}; duplicate transactions {duplicates} ({duplicate_batches} batches); {:.1}s",
        objects.iter().map(|o| o.batches()).sum::<u64>(),
        stats.requests,
        stats.per_status,
        retries.values().sum::<usize>(),
        parked.len(),
        drained.deleted,
        drained.kept,
        received_before_replay,
        received.values().sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(lost, 0, "no transaction lost");
    assert_eq!(drained.kept, 0);
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "bounded in time"
    );
}
