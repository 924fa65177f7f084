//! What is not sent: static assets (contract §5) and objects that are not logs.

/// The contract's default `cequence_skip_extensions`.
pub const DEFAULT_SKIP_EXTENSIONS: &str = ".jpg,.jpeg,.png,.gif,.webp,.avif,.svg,.ico,.bmp,.tif,.tiff,.css,.js,.mjs,.map,.woff,.woff2,.ttf,.otf,.eot,.mp4,.webm,.mp3,.wav,.ogg,.avi,.mov,.pdf,.zip,.gz";

/// A case-insensitive set of file extensions, matched on the last path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticFilter {
    /// Lower-case, each with its leading dot.
    extensions: Vec<String>,
}

impl Default for StaticFilter {
    fn default() -> Self {
        StaticFilter::parse(DEFAULT_SKIP_EXTENSIONS)
    }
}

impl StaticFilter {
    /// Parses a comma- or space-separated list; a missing leading dot is added.
    pub fn parse(list: &str) -> StaticFilter {
        let mut extensions: Vec<String> = list
            .split([',', ' ', '\t', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty() && *e != ".")
            .map(|e| {
                let e = e.to_ascii_lowercase();
                if e.starts_with('.') {
                    e
                } else {
                    format!(".{e}")
                }
            })
            .collect();
        extensions.sort();
        extensions.dedup();
        StaticFilter { extensions }
    }

    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// Whether a decoded request path is a static asset.
    pub fn is_static(&self, path: &str) -> bool {
        let bytes = path.as_bytes();
        let last_segment = match memchr::memrchr(b'/', bytes) {
            Some(slash) => &bytes[slash + 1..],
            None => bytes,
        };
        // Every extension starts with a dot: most API paths end without one,
        // and are decided without comparing against each extension.
        if memchr::memchr(b'.', last_segment).is_none() {
            return false;
        }
        self.extensions.iter().any(|ext| {
            let ext = ext.as_bytes();
            last_segment.len() > ext.len()
                && last_segment[last_segment.len() - ext.len()..].eq_ignore_ascii_case(ext)
        })
    }
}

/// Why an object is not a log to process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotALog {
    /// A console "folder": a key ending in `/`.
    FolderMarker,
    /// Zero bytes long.
    Empty,
}

/// Objects that are never logs, decided from key and size alone.
pub fn not_a_log(key: &str, size: Option<u64>) -> Option<NotALog> {
    if key.ends_with('/') {
        Some(NotALog::FolderMarker)
    } else if size == Some(0) {
        Some(NotALog::Empty)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_paths_table() {
        let f = StaticFilter::default();
        let cases = [
            ("/static/app.js", true),
            ("/static/APP.JS", true),
            ("/img/logo.PNG", true),
            ("/fonts/a.woff2", true),
            ("/api/v1/users", false),
            ("/api/v1/users.json", false),
            ("/js/app", false), // the extension is on a directory, not the file
            ("/download.js/list", false), // only the last segment counts
            ("/", false),
            ("", false),
            (".js", false), // a bare extension is not a file name
            ("/a.gz", true),
            ("/a.tar.gz", true),
            ("/archive.gzip", false),
        ];
        for (path, want) in cases {
            assert_eq!(f.is_static(path), want, "path {path:?}");
        }
    }

    #[test]
    fn custom_list_is_normalised() {
        let f = StaticFilter::parse(" JSON, .Txt ,,js ");
        assert_eq!(f.extensions(), [".js", ".json", ".txt"]);
        assert!(f.is_static("/a/b.json"));
        assert!(!f.is_static("/a/b.png"));
        assert!(StaticFilter::parse("").extensions().is_empty());
    }

    #[test]
    fn non_log_objects() {
        assert_eq!(not_a_log("logs/", Some(0)), Some(NotALog::FolderMarker));
        assert_eq!(not_a_log("logs/", None), Some(NotALog::FolderMarker));
        assert_eq!(not_a_log("logs/a.gz", Some(0)), Some(NotALog::Empty));
        assert_eq!(not_a_log("logs/a.gz", Some(10)), None);
        assert_eq!(not_a_log("logs/a.gz", None), None);
    }
}
