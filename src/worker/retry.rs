//! One request's retry state: how many attempts it may make, the deadlines
//! that bound them, the `max_retries` breaker slot held while a retry is in
//! flight, and the one place that decides whether a failure is worth another
//! attempt under the route's `retry_policy`.
//!
//! Only a request held whole (head and any body up to the listener's
//! `request_buffer`, at least `REPLAY_BODY_MAX`) can be
//! sent twice; for any other the policy is off and the first outcome is final.

use std::time::{Duration, Instant};

use crate::{
    config::{ForwardAction, RetryPolicy},
    upstream::{cluster::RetrySlot, UpstreamError, WorkerCluster},
};

/// Content-length bodies up to this size (or the listener's `request_buffer`,
/// if larger) that have arrived whole are held, so the request can be replayed
/// on another connection or host.
pub const REPLAY_BODY_MAX: u64 = 16 * 1024;

/// The first retry waits up to this long; each further one twice as long…
const BACKOFF_BASE: Duration = Duration::from_millis(25);
/// …up to this ceiling (Envoy's defaults).
const BACKOFF_MAX: Duration = Duration::from_millis(250);

/// Would `policy` retry after `e`? Envoy's `retry_on` conditions.
pub fn retries_error(policy: &RetryPolicy, e: UpstreamError) -> bool {
    match e {
        UpstreamError::ConnectFailed(_) | UpstreamError::ConnectTimeout | UpstreamError::Tls(_) => {
            policy.on_connect_failure || policy.on_5xx || policy.on_gateway_error
        }
        UpstreamError::Reset => policy.on_reset || policy.on_5xx,
        // Envoy's `reset` covers a refused stream too.
        UpstreamError::Refused => policy.on_refused_stream || policy.on_reset || policy.on_5xx,
        UpstreamError::Timeout => policy.on_reset || policy.on_5xx || policy.on_gateway_error,
        UpstreamError::BadResponse(_) => policy.on_5xx || policy.on_gateway_error,
        UpstreamError::NoHealthyUpstream => false,
    }
}

/// A random wait before retry `attempt` + 1: up to 25 ms × 2^(attempt-1),
/// capped at 250 ms. `random` is any uniformly distributed value.
pub fn backoff(attempt: u32, random: u64) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << attempt.saturating_sub(1).min(4))
        .min(BACKOFF_MAX);
    let ceiling_us = ceiling.as_micros() as u64;
    Duration::from_micros(random % (ceiling_us + 1))
}

pub struct RetryState<'c> {
    cluster: &'c WorkerCluster,
    /// The route's policy, if the request can be replayed.
    policy: Option<&'c RetryPolicy>,
    /// The attempt under way, from 1.
    attempt: u32,
    attempts: u32,
    /// The route timeout, over all attempts.
    overall: Option<Instant>,
    /// The `max_retries` slot of the retry in flight, if any.
    slot: Option<RetrySlot<'c>>,
}

/// Why no further attempt is made.
pub enum NoRetry {
    /// The policy (or the attempt count, or the route timeout) says no.
    NotRetriable,
    /// The `max_retries` breaker had no slot for it.
    Overflow,
}

impl<'c> RetryState<'c> {
    pub fn new(
        cluster: &'c WorkerCluster,
        route: &'c ForwardAction,
        replayable: bool,
        now: Instant,
    ) -> Self {
        let policy = route.retry.as_ref().filter(|_| replayable);
        RetryState {
            cluster,
            policy,
            attempt: 1,
            attempts: 1 + policy.map_or(0, |r| r.num_retries),
            overall: route.timeout.map(|t| now + t),
            slot: None,
        }
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The route timeout's moment, over all attempts.
    pub fn deadline(&self) -> Option<Instant> {
        self.overall
    }

    /// Attempts are numbered to the upstream (`x-ringway-attempt-count`) when
    /// the route retries.
    pub fn counts_attempts(&self) -> bool {
        self.policy.is_some()
    }

    /// When the attempt starting now must have its response head: the route
    /// timeout, or the per-try timeout if that comes first.
    pub fn attempt_deadline(&self, now: Instant) -> Option<Instant> {
        let per_try = self.policy.and_then(|r| r.per_try_timeout).map(|t| now + t);
        match (self.overall, per_try) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn attempts_left(&self) -> bool {
        self.attempt < self.attempts
    }

    /// Another attempt after a response with `status`?
    pub fn after_status(&mut self, status: u16) -> Result<(), NoRetry> {
        let wanted = self.attempts_left() && self.policy.is_some_and(|r| r.retries_status(status));
        self.take_slot_if(wanted)
    }

    /// Another attempt after the upstream failed with `e`?
    pub fn after_error(&mut self, e: UpstreamError, now: Instant) -> Result<(), NoRetry> {
        let wanted = self.attempts_left()
            && self.policy.is_some_and(|r| retries_error(r, e))
            && self.overall.is_none_or(|d| now < d);
        self.take_slot_if(wanted)
    }

    /// The next attempt begins.
    pub fn advance(&mut self) {
        self.attempt += 1;
    }

    /// Take a `max_retries` slot for the next retry, releasing the previous
    /// retry's (its attempt is over).
    fn take_slot_if(&mut self, wanted: bool) -> Result<(), NoRetry> {
        if !wanted {
            return Err(NoRetry::NotRetriable);
        }
        self.slot = None;
        self.slot = self.cluster.try_retry();
        if self.slot.is_some() {
            Ok(())
        } else {
            Err(NoRetry::Overflow)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let max = |attempt| backoff(attempt, u64::MAX - 1);
        assert!(max(1) <= Duration::from_millis(25));
        assert!(max(2) <= Duration::from_millis(50));
        assert!(max(9) <= Duration::from_millis(250));
        assert_eq!(backoff(3, 0), Duration::ZERO);
    }

    #[test]
    fn connect_failures_retry_under_gateway_error() {
        let policy = RetryPolicy {
            on_5xx: false,
            on_gateway_error: true,
            on_connect_failure: false,
            on_reset: false,
            on_retriable_4xx: false,
            on_refused_stream: false,
            retriable_status_codes: vec![],
            num_retries: 1,
            per_try_timeout: None,
        };
        assert!(retries_error(&policy, UpstreamError::ConnectTimeout));
        assert!(retries_error(&policy, UpstreamError::Timeout));
        assert!(!retries_error(&policy, UpstreamError::Reset));
        assert!(!retries_error(&policy, UpstreamError::NoHealthyUpstream));
    }
}
