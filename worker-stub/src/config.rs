//! What a worker-stub is told at start: the keys it trusts, its limits, and the `--fault`
//! switches that make each failure mode reproducible.

use std::str::FromStr;
use std::time::Duration;

use hearth_protocol::bearer::Keyring;

/// One failure mode, switched on with `--fault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Node frames break the KAHN schema (`node_attempt` says `"kahn": 99`, `node_transition`
    /// lacks `to`); `run_started` and `run_ended` stay valid so the run still visibly ends.
    BadFrame,
    /// The node with this prompt index fails, whatever the workspace answers.
    FailNode(u32),
    /// The first event stream of each run is closed after it has sent this many frames, so the
    /// client must reconnect with `Last-Event-ID`.
    DropStreamAfter(usize),
    /// Each node takes at least this many milliseconds.
    Slow(u64),
}

/// Why a `--fault` value was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault '{0}' (expected bad-frame, fail-node=N, drop-stream-after=N or slow=MS)")]
pub struct FaultParseError(String);

impl FromStr for Fault {
    type Err = FaultParseError;

    fn from_str(s: &str) -> Result<Fault, FaultParseError> {
        let err = || FaultParseError(s.to_owned());
        let (name, value) = match s.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        let number = |v: Option<&str>| v.and_then(|v| v.parse::<u64>().ok()).ok_or_else(err);
        match name {
            "bad-frame" if value.is_none() => Ok(Fault::BadFrame),
            "fail-node" => Ok(Fault::FailNode(
                u32::try_from(number(value)?).map_err(|_| err())?,
            )),
            "drop-stream-after" => Ok(Fault::DropStreamAfter(
                usize::try_from(number(value)?).map_err(|_| err())?,
            )),
            "slow" => Ok(Fault::Slow(number(value)?)),
            _ => Err(err()),
        }
    }
}

/// The switched-on faults, folded into what each part of the worker asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    pub bad_frame: bool,
    pub fail_nodes: Vec<u32>,
    pub drop_stream_after: Option<usize>,
    pub slow: Option<Duration>,
}

impl Faults {
    /// Folds a list of `--fault` switches; a later value of the same switch wins.
    pub fn from_list(list: &[Fault]) -> Faults {
        let mut f = Faults::default();
        for fault in list {
            match *fault {
                Fault::BadFrame => f.bad_frame = true,
                Fault::FailNode(n) => f.fail_nodes.push(n),
                Fault::DropStreamAfter(n) => f.drop_stream_after = Some(n),
                Fault::Slow(ms) => f.slow = Some(Duration::from_millis(ms)),
            }
        }
        f
    }
}

/// Everything [`crate::run`] needs besides the listener and the shutdown signal.
#[derive(Debug, Clone)]
pub struct Config {
    /// Keys whose signatures are accepted (the first would sign, but the worker only verifies).
    pub keys: Keyring,
    pub faults: Faults,
    /// How long a node waits for the workspace's endpoint to answer.
    pub node_timeout: Duration,
    /// Most prompts one run may carry.
    pub max_prompts: usize,
    /// Most bytes one prompt may have.
    pub max_prompt_bytes: usize,
    /// Most bytes a request body may have.
    pub max_body_bytes: usize,
    /// The URLs the console addresses this worker by (`--audience`); a v2 bearer must be
    /// signed for one of their origins. Empty: the bound address's own origin.
    pub audiences: Vec<String>,
    /// Where accepted bearer nonces are journalled, so a replay is refused across a restart
    /// too; `None` keeps them in memory only (the binary always gives one, in its
    /// [`StateDir`](crate::state::StateDir)).
    pub replay_journal: Option<std::path::PathBuf>,
}

impl Config {
    /// A config with the default limits and no faults.
    pub fn new(keys: Keyring) -> Config {
        Config {
            keys,
            faults: Faults::default(),
            node_timeout: Duration::from_secs(2),
            max_prompts: hearth_protocol::limits::MAX_PROMPTS,
            max_prompt_bytes: hearth_protocol::limits::MAX_PROMPT_BYTES,
            max_body_bytes: 256 * 1024,
            audiences: Vec::new(),
            replay_journal: None,
        }
    }

    /// The same config with these faults switched on.
    pub fn with_faults(mut self, faults: &[Fault]) -> Config {
        self.faults = Faults::from_list(faults);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse() {
        assert_eq!("bad-frame".parse(), Ok(Fault::BadFrame));
        assert_eq!("fail-node=2".parse(), Ok(Fault::FailNode(2)));
        assert_eq!("drop-stream-after=3".parse(), Ok(Fault::DropStreamAfter(3)));
        assert_eq!("slow=250".parse(), Ok(Fault::Slow(250)));
        for bad in [
            "",
            "bad-frame=1",
            "fail-node",
            "fail-node=x",
            "slow=-1",
            "explode",
        ] {
            let e = bad.parse::<Fault>().unwrap_err();
            assert!(e.to_string().contains("expected bad-frame"), "{bad}");
        }
    }

    #[test]
    fn faults_fold() {
        let f = Faults::from_list(&[Fault::FailNode(1), Fault::Slow(5), Fault::FailNode(3)]);
        assert_eq!(f.fail_nodes, [1, 3]);
        assert_eq!(f.slow, Some(Duration::from_millis(5)));
        assert!(!f.bad_frame && f.drop_stream_after.is_none());
    }
}
