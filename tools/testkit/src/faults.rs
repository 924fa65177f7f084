//! Fault scripts for the bridge receiver.
//!
//! Comma-separated steps applied to successive POSTs in arrival order, then
//! `ok` forever: `500,500,429:retry-after=1,401,stall:5,reset,400`.
//!
//! | step | effect |
//! |---|---|
//! | `ok` | normal handling |
//! | `NNN` | answer status NNN (body read, nothing recorded) |
//! | `NNN:retry-after=S` | same, with `Retry-After: S` |
//! | `stall:S` | hold the request S seconds (past the client's timeout), then 503 |
//! | `reset` | read part of the body, then drop the connection with a TCP RST |
//!
//! A step with `@key=HEX` is *targeted*: it does not take a place in the
//! sequence and applies to every request whose `Idempotency-Key` is `HEX`
//! (e.g. `400@key=ab12…` makes one batch fail permanently, deterministically).
//! `xN` repeats a sequential step: `503x3` = `503,503,503`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// One fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Ok,
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    Stall(Duration),
    Reset,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Ok => write!(f, "ok"),
            Fault::Status {
                status,
                retry_after: None,
            } => write!(f, "{status}"),
            Fault::Status {
                status,
                retry_after: Some(s),
            } => {
                write!(f, "{status}:retry-after={s}")
            }
            Fault::Stall(d) => write!(f, "stall:{}", d.as_secs_f64()),
            Fault::Reset => write!(f, "reset"),
        }
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("ok") {
            return Ok(Fault::Ok);
        }
        if s.eq_ignore_ascii_case("reset") {
            return Ok(Fault::Reset);
        }
        if let Some(secs) = s.strip_prefix("stall:") {
            let secs: f64 = secs
                .parse()
                .map_err(|_| format!("bad stall seconds in {s:?}"))?;
            if !(0.0..=3600.0).contains(&secs) {
                return Err(format!("stall seconds out of range in {s:?}"));
            }
            return Ok(Fault::Stall(Duration::from_secs_f64(secs)));
        }
        let (code, opt) = match s.split_once(':') {
            Some((c, o)) => (c, Some(o)),
            None => (s, None),
        };
        let status: u16 = code
            .parse()
            .map_err(|_| format!("unknown fault step {s:?}"))?;
        if !(100..=599).contains(&status) {
            return Err(format!("status out of range in {s:?}"));
        }
        let retry_after = match opt {
            None => None,
            Some(o) => Some(
                o.strip_prefix("retry-after=")
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| format!("bad option in {s:?} (want retry-after=SECONDS)"))?,
            ),
        };
        Ok(Fault::Status {
            status,
            retry_after,
        })
    }
}

/// A parsed fault script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultScript {
    /// Applied to POST #0, #1, ... in arrival order; then `ok`.
    pub steps: Vec<Fault>,
    /// Applied to every request with this Idempotency-Key.
    pub targeted: Vec<(String, Fault)>,
}

impl FaultScript {
    /// The fault for a request: targeted first, else sequential step `seq`
    /// (`seq` counts only non-targeted POSTs).
    pub fn targeted_for(&self, key: Option<&str>) -> Option<&Fault> {
        let key = key?;
        self.targeted
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, f)| f)
    }

    pub fn step(&self, seq: usize) -> Fault {
        self.steps.get(seq).cloned().unwrap_or(Fault::Ok)
    }
}

impl FromStr for FaultScript {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut script = FaultScript::default();
        for raw in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            if let Some((step, target)) = raw.split_once('@') {
                let key = target
                    .strip_prefix("key=")
                    .ok_or_else(|| format!("bad target in {raw:?} (want @key=HEX)"))?;
                script
                    .targeted
                    .push((key.to_ascii_lowercase(), step.parse()?));
                continue;
            }
            let (step, times) = match raw.rsplit_once('x') {
                Some((st, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                    (st, n.parse::<usize>().map_err(|e| e.to_string())?)
                }
                _ => (raw, 1),
            };
            let f: Fault = step.parse()?;
            script.steps.extend(std::iter::repeat_n(f, times));
        }
        Ok(script)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let s: FaultScript = "500,500,429:retry-after=1,401,stall:5,reset,400"
            .parse()
            .unwrap();
        assert_eq!(s.steps.len(), 7);
        assert_eq!(
            s.step(0),
            Fault::Status {
                status: 500,
                retry_after: None
            }
        );
        assert_eq!(
            s.step(2),
            Fault::Status {
                status: 429,
                retry_after: Some(1)
            }
        );
        assert_eq!(
            s.step(3),
            Fault::Status {
                status: 401,
                retry_after: None
            }
        );
        assert_eq!(s.step(4), Fault::Stall(Duration::from_secs(5)));
        assert_eq!(s.step(5), Fault::Reset);
        assert_eq!(
            s.step(6),
            Fault::Status {
                status: 400,
                retry_after: None
            }
        );
        assert_eq!(s.step(7), Fault::Ok);
        assert_eq!(s.step(1000), Fault::Ok);
    }

    #[test]
    fn targeted_and_repeated_steps() {
        let s: FaultScript = "503x3,400@key=ABCDEF,ok".parse().unwrap();
        assert_eq!(s.steps.len(), 4);
        assert_eq!(
            s.step(2),
            Fault::Status {
                status: 503,
                retry_after: None
            }
        );
        assert_eq!(s.step(3), Fault::Ok);
        assert_eq!(
            s.targeted_for(Some("abcdef")),
            Some(&Fault::Status {
                status: 400,
                retry_after: None
            })
        );
        assert_eq!(s.targeted_for(Some("other")), None);
        assert_eq!(s.targeted_for(None), None);
    }

    #[test]
    fn rejects_garbage() {
        assert!("teapot".parse::<FaultScript>().is_err());
        assert!("429:wait=1".parse::<FaultScript>().is_err());
        assert!("700".parse::<FaultScript>().is_err());
        assert!("400@batch=1".parse::<FaultScript>().is_err());
        assert_eq!("".parse::<FaultScript>().unwrap(), FaultScript::default());
    }
}
