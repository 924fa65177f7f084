//! The one decision "was this object delivered, and what now?", used alike by
//! the Lambda handler, `process`, `replay` and `replay --from-dlq`.
//!
//! | what happened (first row that matches)                     | disposition   | Lambda invocation            | command line |
//! |-------------------------------------------------------------|---------------|------------------------------|--------------|
//! | not a log, or the object no longer exists                   | `Skipped`     | succeeds                     | exit 0       |
//! | S3 read/denied, tag lookup, transient read error, a panic,  | `Retry`       | fails (checkpoint written), AWS retries, then the failure queue | exit 1 |
//! |   a batch not delivered within the retry budget             |               |                              |              |
//! | a batch refused by the bridge that could not be parked      | `Retry`       | as above                     | exit 1       |
//! | batches refused by the bridge, all parked on the queue      | `Parked`      | succeeds, `FailedBatches` metric | exit 1   |
//! | the object is corrupt or truncated (records before sent)    | `Unreadable`  | succeeds (logged at ERROR)   | exit 1       |
//! | everything else                                             | `Delivered`   | succeeds                     | exit 0       |
//!
//! "Refused" is the bridge's own answer for that batch (a `4xx` other than
//! `401`/`408`/`429`, or `401` twice, see `delivery::retry::classify`):
//! sending the object again cannot help. Everything else that did not
//! deliver a batch may succeed later.

/// What is known about one object after it went through the pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Not a log (folder marker, zero bytes) or deleted since the event.
    pub nothing_to_do: bool,
    /// Why the object must be processed again, if anything says so (S3,
    /// tag lookup, transient read error, a reader panic).
    pub retry_cause: Option<String>,
    /// Batches not delivered without an answer from the bridge (budget
    /// spent, token endpoint trouble, delivery task failed).
    pub undelivered_batches: usize,
    /// Batches the bridge refused for good.
    pub refused_batches: usize,
    /// Refused batches now on the failure queue.
    pub parked_batches: usize,
    /// The object is corrupt or truncated: retrying cannot read further.
    pub unreadable: Option<String>,
}

/// What happens to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Delivered,
    Skipped,
    /// Refused batches parked; the rest delivered.
    Parked,
    /// Logged and acknowledged: retrying cannot help.
    Unreadable,
    /// Fail so that the object is processed again (from its checkpoint).
    Retry,
}

impl Disposition {
    /// Whether the Lambda invocation fails (so AWS retries the event).
    pub fn fails_invocation(self) -> bool {
        self == Disposition::Retry
    }

    /// Whether a command-line run counts it as a failure (exit 1): anything
    /// not fully delivered, so a person sees it.
    pub fn fails_command(self) -> bool {
        !matches!(self, Disposition::Delivered | Disposition::Skipped)
    }

    /// Whether the object's checkpoint tag is to be removed: nothing of it
    /// is left to resend.
    pub fn clears_checkpoint(self) -> bool {
        !matches!(self, Disposition::Retry | Disposition::Skipped)
    }
}

/// The table above.
pub fn decide(facts: &Facts) -> Disposition {
    if facts.nothing_to_do {
        Disposition::Skipped
    } else if facts.retry_cause.is_some()
        || facts.undelivered_batches > 0
        || facts.parked_batches < facts.refused_batches
    {
        Disposition::Retry
    } else if facts.refused_batches > 0 {
        Disposition::Parked
    } else if facts.unreadable.is_some() {
        Disposition::Unreadable
    } else {
        Disposition::Delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        let none = Facts::default();
        let retry = Facts {
            retry_cause: Some("S3 throttled".into()),
            ..Facts::default()
        };
        let budget = Facts {
            undelivered_batches: 1,
            refused_batches: 2,
            parked_batches: 2,
            ..Facts::default()
        };
        let parked = Facts {
            refused_batches: 2,
            parked_batches: 2,
            ..Facts::default()
        };
        let not_parked = Facts {
            refused_batches: 2,
            parked_batches: 1,
            ..Facts::default()
        };
        let corrupt = Facts {
            unreadable: Some("bad gzip".into()),
            ..Facts::default()
        };
        let corrupt_and_parked = Facts {
            unreadable: Some("bad gzip".into()),
            ..parked.clone()
        };
        let skipped = Facts {
            nothing_to_do: true,
            ..Facts::default()
        };
        for (facts, want) in [
            (&none, Disposition::Delivered),
            (&retry, Disposition::Retry),
            (&budget, Disposition::Retry),
            (&parked, Disposition::Parked),
            (&not_parked, Disposition::Retry),
            (&corrupt, Disposition::Unreadable),
            (&corrupt_and_parked, Disposition::Parked),
            (&skipped, Disposition::Skipped),
        ] {
            assert_eq!(decide(facts), want, "{facts:?}");
        }
    }

    #[test]
    fn only_retry_fails_the_invocation_and_anything_undelivered_fails_a_command() {
        use Disposition::*;
        let all = [Delivered, Skipped, Parked, Unreadable, Retry];
        let invocation: Vec<_> = all.iter().filter(|d| d.fails_invocation()).collect();
        assert_eq!(invocation, [&Retry]);
        let command: Vec<_> = all.iter().filter(|d| d.fails_command()).collect();
        assert_eq!(command, [&Parked, &Unreadable, &Retry]);
        assert!(!Retry.clears_checkpoint() && Parked.clears_checkpoint());
    }
}
