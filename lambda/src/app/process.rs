//! `process FILE...` to the bridge: local files standing for S3 objects,
//! forwarded and decided exactly as the Lambda forwards an object.

use std::path::PathBuf;

use tracing::info;

use super::forward::{App, ObjectOutcome};
use crate::cli::{open_object, Opened};

/// Forwards every file. Returns the outcomes and how many files could not
/// be opened.
pub async fn process_files(
    app: &App,
    files: &[PathBuf],
    bucket: &str,
    key: Option<&str>,
) -> (Vec<ObjectOutcome>, usize) {
    let mut outcomes = Vec::new();
    let mut unopened = 0;
    for path in files {
        let local = match open_object(path, bucket, key) {
            Opened::Object(local) => local,
            Opened::Failed => {
                unopened += 1;
                continue;
            }
        };
        // The messages below name the object the file stands for.
        info!("{}: sent as {}", local.name, local.id);
        let bar = local.reader.bar_handle();
        outcomes.push(app.local_object(local.id, local.reader).await);
        bar.finish_and_clear();
    }
    (outcomes, unopened)
}
