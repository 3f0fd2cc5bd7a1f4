//! How long a request body may take to arrive.
//!
//! `request_body_timeout` bounds the part of a body that is buffered before an
//! upstream is chosen; after that, each wait for more bytes has
//! `REQUEST_BODY_READ_TIMEOUT`. A client can still hold an upstream request for
//! as long as it likes by sending a byte just inside each wait. With
//! `request_body_min_rate` the whole body is held to an average rate instead,
//! as Apache's `mod_reqtimeout` does it (`body=T,MinRate=R`): the deadline is
//! `request_body_timeout` after the body started, plus one second for every
//! `R` bytes received so far, so a fast start earns credit and a trickle runs
//! out of it. Both HTTP/1.1 and HTTP/2 request bodies use this one rule.
//!
//! Invariant: with a minimum rate the deadline only moves forward as bytes
//! arrive, and never further than one per-read wait from now.

use std::time::{Duration, Instant};

use crate::{codec::limits::REQUEST_BODY_READ_TIMEOUT, config::ListenerConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPace {
    started: Instant,
    grace: Duration,
    /// Bytes per second the body must average (after `grace`); `None`: no rate.
    min_rate: Option<u64>,
}

impl BodyPace {
    /// A body starting now, under `listener`'s settings.
    pub fn start(listener: &ListenerConfig) -> BodyPace {
        BodyPace {
            started: Instant::now(),
            grace: listener.request_body_timeout,
            min_rate: listener.request_body_min_rate,
        }
    }

    /// The whole-body deadline once `received` bytes have arrived.
    fn paced(&self, received: u64, rate: u64) -> Instant {
        let credit = Duration::from_millis(received.saturating_mul(1000) / rate);
        self.started + self.grace + credit
    }

    /// Until when the buffered part of the body may take, with `received` in.
    pub fn buffering_deadline(&self, received: u64) -> Instant {
        match self.min_rate {
            None => self.started + self.grace,
            Some(rate) => self.paced(received, rate),
        }
    }

    /// Until when the next read of a streamed body may wait, with `received` in.
    pub fn streaming_deadline(&self, received: u64, now: Instant) -> Instant {
        let per_read = now + REQUEST_BODY_READ_TIMEOUT;
        match self.min_rate {
            None => per_read,
            Some(rate) => self.paced(received, rate).min(per_read),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(min_rate: Option<u64>) -> BodyPace {
        BodyPace {
            started: Instant::now(),
            grace: Duration::from_secs(10),
            min_rate,
        }
    }

    #[test]
    fn without_a_rate_buffering_has_the_timeout_and_streaming_each_read_its_wait() {
        let p = pace(None);
        assert_eq!(p.buffering_deadline(0), p.buffering_deadline(1 << 30));
        let now = Instant::now();
        assert_eq!(
            p.streaming_deadline(5, now),
            now + REQUEST_BODY_READ_TIMEOUT
        );
    }

    #[test]
    fn a_rate_earns_one_second_per_rate_bytes_and_never_more_than_a_read_wait() {
        let p = pace(Some(1000));
        let base = p.buffering_deadline(0);
        assert_eq!(p.buffering_deadline(3000), base + Duration::from_secs(3));
        assert_eq!(p.buffering_deadline(500), base + Duration::from_millis(500));
        let now = p.started;
        assert_eq!(
            p.streaming_deadline(0, now),
            base,
            "a trickle runs out of credit"
        );
        assert_eq!(
            p.streaming_deadline(u64::MAX, now),
            now + REQUEST_BODY_READ_TIMEOUT,
            "credit never outlasts one read's wait"
        );
    }
}
