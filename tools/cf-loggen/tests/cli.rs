//! The `cf-loggen` binary: sizes, gzip members, output files, keys.

use std::io::Read;
use std::process::Command;

use flate2::read::MultiGzDecoder;

fn loggen(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_cf-loggen"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut text = Vec::new();
    MultiGzDecoder::new(bytes).read_to_end(&mut text).unwrap();
    text
}

fn data_lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .collect()
}

#[test]
fn records_and_default_format() {
    let out = loggen(&["--records", "25", "--seed", "3"]);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("#Version: 1.0\n#Fields: date time "));
    assert_eq!(text.lines().count(), 27);
    assert_eq!(
        text,
        String::from_utf8(loggen(&["--records", "25", "--seed", "3"])).unwrap()
    );
}

#[test]
fn gzip_members_decompress_to_the_same_records() {
    let plain = loggen(&["--records", "1000", "--seed", "5"]);
    let one = loggen(&["--records", "1000", "--seed", "5", "--gzip"]);
    let three = loggen(&[
        "--records",
        "1000",
        "--seed",
        "5",
        "--gzip",
        "--gzip-members",
        "3",
    ]);
    assert_eq!(&one[..2], b"\x1f\x8b");
    assert_eq!(gunzip(&one), plain);
    let text = gunzip(&three);
    assert_eq!(data_lines(&text), data_lines(&plain));
    // Each member starts with the header lines.
    let text = String::from_utf8(text).unwrap();
    assert_eq!(text.matches("#Version: 1.0\n").count(), 3);
    assert_eq!(text.matches("#Fields: ").count(), 3);
}

#[test]
fn bytes_lands_near_the_target() {
    for (arg, target) in [("2MB", 2_000_000u64), ("1MiB", 1 << 20)] {
        for extra in [
            &[][..],
            &["--gzip", "--gzip-members", "4"][..],
            &["--format", "json"][..],
        ] {
            let mut args = vec!["--bytes", arg];
            args.extend_from_slice(extra);
            let out = loggen(&args);
            let size = if extra.contains(&"--gzip") {
                gunzip(&out).len()
            } else {
                out.len()
            } as u64;
            assert!(
                size >= target && size <= target + target / 100,
                "{args:?}: {size}"
            );
        }
    }
}

#[test]
fn writes_to_a_file_and_prints_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.gz");
    let stdout = loggen(&["--records", "10", "--gzip", "--out", path.to_str().unwrap()]);
    assert!(stdout.is_empty());
    let file = std::fs::read(&path).unwrap();
    assert_eq!(data_lines(&gunzip(&file)).len(), 10);

    let key = loggen(&[
        "--print-key",
        "--gzip",
        "--distribution-id",
        "WAKKE7XJ5Y3FH",
        "--hour",
        "2024-02-01T00",
        "--seed",
        "9",
    ]);
    let key = String::from_utf8(key).unwrap();
    let key = key.trim_end();
    assert!(
        key.starts_with("WAKKE7XJ5Y3FH.2024-02-01-00.") && key.ends_with(".gz"),
        "{key}"
    );
    assert_eq!(key.len(), "WAKKE7XJ5Y3FH.2024-02-01-00.".len() + 8 + 3);
}

#[test]
fn rejects_bad_arguments() {
    for args in [
        &["--hour", "2024-13-01T00"][..],
        &["--bytes", "10XB"],
        &["--format", "csv"],
        &["--records", "1", "--bytes", "1MB"],
        &["--gzip-members", "0"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_cf-loggen"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
    }
}

#[test]
fn prints_the_realtime_field_list_in_use() {
    let text = |args: &[&str]| String::from_utf8(loggen(args)).unwrap();
    assert_eq!(
        text(&["--print-realtime-fields"]).trim_end(),
        cf_loggen::DEFAULT_REALTIME_FIELDS.join(",")
    );
    assert_eq!(
        text(&["--print-realtime-fields", "--realtime-fields", "all"]).trim_end(),
        cf_loggen::REALTIME_FIELDS.join(",")
    );
    assert_eq!(
        text(&[
            "--print-realtime-fields",
            "--realtime-fields",
            "timestamp,c-ip"
        ]),
        "timestamp,c-ip\n"
    );
    // `all` writes every field: one tab-separated value per field.
    let all = text(&["--realtime-fields", "all", "--records", "3"]);
    for line in all.lines() {
        assert_eq!(line.split('\t').count(), cf_loggen::REALTIME_FIELDS.len());
    }
}
