//! Secrets are held in `secrecy::SecretString`: `Debug` prints `[REDACTED]`
//! and the value is only reachable through an explicit `expose_secret()`.
pub use secrecy::{ExposeSecret, SecretString};
