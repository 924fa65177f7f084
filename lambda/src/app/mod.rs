//! The application layer: sources → core → sinks.
//!
//! - [`sources`]: what an event holds (S3 objects, Kinesis records; one module
//!   and one arm per input kind).
//! - [`forward`]: one object through the pure `core` to the bridge
//!   (`delivery`), refused batches parked on the failure queue, the
//!   checkpoint moved, the operator told.
//! - [`shard`]: one Kinesis shard batch (real-time logs) through the same
//!   core and delivery; answers which record Lambda retries from.
//! - [`outcome`]: the one decision of what happens to an object.
//! - [`handler`] (Lambda), [`process`] and [`replay`] (command line) all
//!   forward through [`forward::App`] and decide with [`outcome`].
//! - [`wiring`]: builds the `App` once from the `Config`.
//!
//! Adapters (`crate::aws`) sit behind narrow traits and never import from here.
//! See docs/architecture.md.

pub mod forward;
pub mod handler;
pub mod outcome;
pub mod parked;
pub mod process;
pub mod replay;
pub mod shard;
pub mod sources;
pub mod wiring;

pub use forward::{App, ObjectOutcome, Plan, Runner};
pub use handler::HandlerError;
pub use outcome::Disposition;
pub use shard::ShardOutcome;
