//! cf-passive: forwards CloudFront standard access logs to an API-protection bridge.
//!
//! The crate is a pure, synchronous core (`core`: read → parse → filter → map →
//! batch) with I/O at the edges: `delivery` (OAuth + HTTP to the bridge) and
//! `aws` (S3, CloudFront, Secrets Manager, the Lambda handler). The binary in
//! `main.rs` is a thin shell over `cli` and the Lambda runtime.

pub mod app;
pub mod aws;
pub mod check;
pub mod cli;
pub mod config;
pub mod core;
pub mod delivery;
pub mod forward;
pub mod report;
pub mod secret;
pub mod settings;
pub mod telemetry;

/// Product name and version, sent as `User-Agent` and in `source_info`.
pub const PRODUCT: &str = "cf-passive";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
