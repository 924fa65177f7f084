//! `Config::from_env()`: reads and validates every `cequence_*` variable once.
