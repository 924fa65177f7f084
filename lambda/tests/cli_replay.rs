//! `replay`'s arguments: `--from-dlq` with or without a queue URL (without,
//! the configured cequence_failure_queue_url is drained), and `--from-start`.

use cf_passive::cli::{Cli, Command};
use clap::Parser;

fn replay(args: &[&str]) -> (Option<String>, bool, Vec<String>) {
    let cli = Cli::try_parse_from([&["cf-passive-lambda", "replay"], args].concat()).unwrap();
    match cli.command {
        Command::Replay {
            from_dlq,
            from_start,
            objects,
            ..
        } => (from_dlq, from_start, objects),
        other => panic!("{other:?}"),
    }
}

#[test]
fn from_dlq_takes_an_optional_queue_url() {
    assert_eq!(
        replay(&["--from-dlq"]),
        (Some(String::new()), false, vec![])
    );
    let url = "https://sqs.us-east-1.amazonaws.com/123456789012/q";
    assert_eq!(
        replay(&["--from-dlq", url]),
        (Some(url.into()), false, vec![])
    );
    assert_eq!(
        replay(&["--from-start", "s3://b/k"]),
        (None, true, vec!["s3://b/k".to_string()])
    );
    assert!(
        Cli::try_parse_from(["cf-passive-lambda", "replay"]).is_err(),
        "needs objects or --from-dlq"
    );
}

#[test]
fn drop_expired_goes_with_from_dlq_only() {
    let parse = |args: &[&str]| {
        Cli::try_parse_from([&["cf-passive-lambda", "replay"], args].concat()).map(|cli| match cli
            .command
        {
            Command::Replay { drop_expired, .. } => drop_expired,
            other => panic!("{other:?}"),
        })
    };
    assert!(!parse(&["--from-dlq"]).unwrap());
    assert!(parse(&["--from-dlq", "--drop-expired"]).unwrap());
    assert!(
        parse(&["--drop-expired", "s3://b/k"]).is_err(),
        "--drop-expired only means something for the failure queue"
    );
}
