//! What an accept loop does when `accept` fails. Out of descriptors (EMFILE,
//! ENFILE) or memory, the listening socket stays readable, so retrying at once
//! spins and logs hundreds of lines a second. Like nginx, the loop pauses
//! [`PAUSE_AT_LIMIT`] instead (connections already accepted keep being served,
//! and their closing frees descriptors), and an episode of such failures logs
//! two lines: when it starts, and when accepting works again, with a count.
//! Near the limit, accepts flap (one works, the connection takes the freed
//! descriptor, the next fails), so an episode ends only at a successful accept
//! [`EPISODE_QUIET`] after its last failure.
//!
//! Invariant: one `AcceptFailures` per accept loop, so each worker's episodes
//! are its own and nothing is shared between cores.

use std::{
    io,
    time::{Duration, Instant},
};

/// How long accepting pauses while a resource limit makes it fail.
pub const PAUSE_AT_LIMIT: Duration = Duration::from_millis(500);
/// A resource-limit episode ends at the first successful accept this long
/// after its last failure.
pub const EPISODE_QUIET: Duration = Duration::from_secs(1);
/// How long it pauses after any other failure (a connection reset before it
/// was accepted, say): it is not expected to last.
pub const PAUSE_OTHER: Duration = Duration::from_millis(10);

/// Why `accept` failed, as far as the pause is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptFailure {
    /// Out of descriptors or kernel memory: lasts until connections close.
    ResourceLimit,
    /// Anything else.
    Other,
}

impl AcceptFailure {
    pub fn of(e: &io::Error) -> AcceptFailure {
        match e.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                AcceptFailure::ResourceLimit
            }
            _ => AcceptFailure::Other,
        }
    }
}

/// The failures of one accept loop: the current resource-limit episode, if any.
#[derive(Debug)]
pub struct AcceptFailures {
    /// Whose loop, for the log lines: `worker 0 listener ingress`, `admin`.
    on: String,
    /// Failed accepts in the episode under way; 0: none under way.
    in_episode: u64,
    /// When the episode's last failure was.
    last_failure: Option<Instant>,
}

impl AcceptFailures {
    pub fn new(on: impl Into<String>) -> AcceptFailures {
        AcceptFailures {
            on: on.into(),
            in_episode: 0,
            last_failure: None,
        }
    }

    /// `accept` failed with `e`: log if that is news, and return how long to
    /// pause before the next accept.
    pub fn failed(&mut self, e: &io::Error) -> Duration {
        match AcceptFailure::of(e) {
            AcceptFailure::ResourceLimit => {
                self.in_episode += 1;
                self.last_failure = Some(Instant::now());
                if self.in_episode == 1 {
                    tracing::warn!(
                        on = %self.on,
                        error = %e,
                        "accept failed; pausing accepts {}ms at a time until connections close \
                         (one line per episode; raise the open-file limit, ulimit -n)",
                        PAUSE_AT_LIMIT.as_millis()
                    );
                } else {
                    tracing::debug!(on = %self.on, error = %e, failures = self.in_episode, "accept still failing");
                }
                PAUSE_AT_LIMIT
            }
            AcceptFailure::Other => {
                tracing::warn!(on = %self.on, error = %e, "accept failed");
                PAUSE_OTHER
            }
        }
    }

    /// `accept` worked: an episode under way ends, with its count, once
    /// accepting has not failed for `EPISODE_QUIET`.
    pub fn succeeded(&mut self) {
        self.succeeded_at(Instant::now());
    }

    fn succeeded_at(&mut self, now: Instant) {
        let quiet = self
            .last_failure
            .is_some_and(|t| now.saturating_duration_since(t) >= EPISODE_QUIET);
        if self.in_episode > 0 && quiet {
            tracing::warn!(
                on = %self.on,
                failures = self.in_episode,
                "accepting again after {} failed accepts",
                self.in_episode
            );
            self.in_episode = 0;
            self.last_failure = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_pauses_long_and_ends_on_success() {
        let mut f = AcceptFailures::new("test");
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(f.failed(&emfile), PAUSE_AT_LIMIT);
        assert_eq!(f.failed(&emfile), PAUSE_AT_LIMIT);
        assert_eq!(f.in_episode, 2);
        let last = f.last_failure.unwrap();
        // Flapping: a success right after a failure does not end the episode.
        f.succeeded_at(last);
        assert_eq!(f.in_episode, 2);
        f.succeeded_at(last + EPISODE_QUIET);
        assert_eq!(f.in_episode, 0);
        let reset = io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert_eq!(f.failed(&reset), PAUSE_OTHER);
        assert_eq!(f.in_episode, 0);
        assert_eq!(
            AcceptFailure::of(&io::Error::from_raw_os_error(libc::ENFILE)),
            AcceptFailure::ResourceLimit
        );
    }
}
