//! Which distribution an object's records belong to, from its key
//! (contract §4, rules 1–3; rule 4, a `DistributionId` field, is per record).

/// A distribution id must look like one: letters and digits only. Ids are
/// not assumed to start with `E` (emulators and future ids differ).
fn is_distribution_id(s: &str) -> bool {
    (4..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn all_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYY-MM-DD-HH`
fn is_date_hour(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    matches!(parts.as_slice(), [y, m, d, h]
        if all_digits(y, 4) && all_digits(m, 2) && all_digits(d, 2) && all_digits(h, 2))
}

/// The distribution id named by an object key, by the first rule that applies:
/// 1. file name `<ID>.YYYY-MM-DD-HH.<unique>[.gz]`;
/// 2. a path segment `DistributionId=<ID>` (Hive-compatible v2 paths);
/// 3. a path segment followed by `YYYY/MM/DD/HH/` (our v2 suffix path).
pub fn distribution_from_key(key: &str) -> Option<&str> {
    let segments: Vec<&str> = key.split('/').collect();
    let file_name = segments.last().copied().unwrap_or_default();
    let mut parts = file_name.splitn(3, '.');
    if let (Some(id), Some(date_hour), Some(unique)) = (parts.next(), parts.next(), parts.next()) {
        if is_distribution_id(id) && is_date_hour(date_hour) && !unique.is_empty() {
            return Some(id);
        }
    }
    for segment in &segments {
        if let Some(id) = segment.strip_prefix("DistributionId=") {
            if is_distribution_id(id) {
                return Some(id);
            }
        }
    }
    // Rule 3 needs the four date segments and a file after them.
    for window in segments.windows(6) {
        let [id, y, m, d, h, _file] = window else {
            continue;
        };
        if is_distribution_id(id)
            && all_digits(y, 4)
            && all_digits(m, 2)
            && all_digits(d, 2)
            && all_digits(h, 2)
        {
            return Some(id);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_in_order() {
        let cases = [
            // rule 1: legacy name, with and without prefix and .gz
            ("E27FO14I29XXXX.2024-01-31-23.a1b2c3d4.gz", Some("E27FO14I29XXXX")),
            ("prefix/E27FO14I29XXXX.2024-01-31-23.a1b2c3d4.gz", Some("E27FO14I29XXXX")),
            ("logs/WAKKE7XJ5Y3FH.2024-01-31-23.abc", Some("WAKKE7XJ5Y3FH")),
            // rule 2: Hive-compatible v2 path
            (
                "AWSLogs/aws-account-id=123456789012/CloudFront/DistributionId=E27FO14I29XXXX/year=2024/month=01/day=31/hour=23/file.log.gz",
                Some("E27FO14I29XXXX"),
            ),
            // rule 3: our suffix path {DistributionId}/{yyyy}/{MM}/{dd}/{HH}
            ("cloudfront-logs/E27FO14I29XXXX/2024/01/31/23/part-0001.gz", Some("E27FO14I29XXXX")),
            ("cloudfront-logs/ABCDEFGH123/2024/01/31/23/x.json", Some("ABCDEFGH123")),
            // rule 1 wins over rule 3 when both name an id
            ("OTHERID1/2024/01/31/23/E27FO14I29XXXX.2024-01-31-23.a1b2.gz", Some("E27FO14I29XXXX")),
            // no rule applies
            ("cloudfront-logs/random-file.gz", None),
            ("cloudfront-logs/2024/01/31/23/file.gz", None),
            ("E27FO14I29XXXX.2024-01-31.a1b2.gz", None),
            ("E27FO14I29XXXX.2024-01-31-23.", None),
            ("DistributionId=/x", None),
            ("folder/", None),
            ("", None),
        ];
        for (key, want) in cases {
            assert_eq!(distribution_from_key(key), want, "key {key:?}");
        }
    }
}
