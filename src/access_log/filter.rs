//! Which requests a listener's access log writes: Envoy's most used access
//! log filters (status code, duration, not-health-check, response flags,
//! static sampling, and/or), built once at config load.
//!
//! Invariant: evaluating a filter reads the finished request's record and
//! allocates nothing; sampling draws from the worker's own RNG only when a
//! `sample` filter is reached.

use super::format::LogRecord;

/// Envoy's `ComparisonFilter.Op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Ge,
    Le,
}

impl Compare {
    pub const NAMES: &'static [(&'static str, Compare)] = &[
        ("eq", Compare::Eq),
        ("ge", Compare::Ge),
        ("le", Compare::Le),
    ];

    fn holds(self, value: u64, against: u64) -> bool {
        match self {
            Compare::Eq => value == against,
            Compare::Ge => value >= against,
            Compare::Le => value <= against,
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("eq", |(n, _)| n)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogFilter {
    /// The response status (0 when none was sent) compared with a value.
    Status(Compare, u16),
    /// The request's duration in milliseconds compared with a value.
    Duration(Compare, u64),
    /// Requests other than the listener's own health check path.
    NotHealthCheck,
    /// Requests with any of these response flags (a mask); 0: with any flag at all.
    ResponseFlags(u16),
    /// This share of requests, in millionths, chosen at random.
    Sample(u32),
    And(Vec<AccessLogFilter>),
    Or(Vec<AccessLogFilter>),
}

/// One in a million: the unit of `Sample`.
pub const SAMPLE_SCALE: u64 = 1_000_000;

impl AccessLogFilter {
    /// Whether the request `r` is logged. `draw(n)` returns a random number below `n`.
    pub fn matches(&self, r: &LogRecord<'_>, draw: &mut impl FnMut(u64) -> u64) -> bool {
        match self {
            AccessLogFilter::Status(op, v) => op.holds(u64::from(r.status), u64::from(*v)),
            AccessLogFilter::Duration(op, ms) => op.holds(r.duration_ms, *ms),
            AccessLogFilter::NotHealthCheck => !r.health_check,
            AccessLogFilter::ResponseFlags(0) => r.flags.0 != 0,
            AccessLogFilter::ResponseFlags(mask) => r.flags.0 & mask != 0,
            AccessLogFilter::Sample(share) => match u64::from(*share) {
                0 => false,
                s if s >= SAMPLE_SCALE => true,
                s => draw(SAMPLE_SCALE) < s,
            },
            AccessLogFilter::And(all) => all.iter().all(|f| f.matches(r, draw)),
            AccessLogFilter::Or(any) => any.iter().any(|f| f.matches(r, draw)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_log::{
        format::{RequestCapture, ResponseDetails},
        ResponseFlags,
    };

    fn record(cap: &RequestCapture, status: u16, ms: u64, flags: u16, hc: bool) -> LogRecord<'_> {
        LogRecord {
            start_nanos: 0,
            protocol: None,
            status,
            details: ResponseDetails::None,
            flags: ResponseFlags(flags),
            bytes_received: 0,
            bytes_sent: 0,
            duration_ms: ms,
            request_duration_ms: None,
            response_duration_ms: None,
            service_time_ms: None,
            upstream_host: None,
            upstream_local: None,
            upstream_cluster: None,
            transport_failure: None,
            peer: "127.0.0.1:1".parse().unwrap(),
            local: None,
            connection_id: 1,
            route_name: None,
            health_check: hc,
            request: cap,
            response: cap,
            tls: None,
        }
    }

    #[test]
    fn compares_status_and_duration() {
        let cap = RequestCapture::default();
        let mut never = |_| unreachable!("no sampling here");
        let ge400 = AccessLogFilter::Status(Compare::Ge, 400);
        assert!(ge400.matches(&record(&cap, 404, 0, 0, false), &mut never));
        assert!(ge400.matches(&record(&cap, 400, 0, 0, false), &mut never));
        assert!(!ge400.matches(&record(&cap, 399, 0, 0, false), &mut never));
        let eq = AccessLogFilter::Status(Compare::Eq, 200);
        assert!(eq.matches(&record(&cap, 200, 0, 0, false), &mut never));
        let slow = AccessLogFilter::Duration(Compare::Le, 10);
        assert!(slow.matches(&record(&cap, 200, 10, 0, false), &mut never));
        assert!(!slow.matches(&record(&cap, 200, 11, 0, false), &mut never));
    }

    #[test]
    fn health_checks_flags_and_combinations() {
        let cap = RequestCapture::default();
        let mut never = |_| unreachable!("no sampling here");
        let hc = AccessLogFilter::NotHealthCheck;
        assert!(!hc.matches(&record(&cap, 200, 0, 0, true), &mut never));
        assert!(hc.matches(&record(&cap, 200, 0, 0, false), &mut never));
        let any = AccessLogFilter::ResponseFlags(0);
        assert!(!any.matches(&record(&cap, 200, 0, 0, false), &mut never));
        assert!(any.matches(
            &record(&cap, 503, 0, ResponseFlags::NO_ROUTE, false),
            &mut never
        ));
        let uf = AccessLogFilter::ResponseFlags(ResponseFlags::UPSTREAM_CONNECT_FAILURE);
        assert!(!uf.matches(
            &record(&cap, 404, 0, ResponseFlags::NO_ROUTE, false),
            &mut never
        ));
        let and = AccessLogFilter::And(vec![hc.clone(), AccessLogFilter::Status(Compare::Ge, 500)]);
        assert!(and.matches(&record(&cap, 503, 0, 0, false), &mut never));
        assert!(!and.matches(&record(&cap, 503, 0, 0, true), &mut never));
        let or = AccessLogFilter::Or(vec![uf, AccessLogFilter::Status(Compare::Eq, 404)]);
        assert!(or.matches(&record(&cap, 404, 0, 0, false), &mut never));
        assert!(!or.matches(&record(&cap, 200, 0, 0, false), &mut never));
    }

    #[test]
    fn samples_a_static_share() {
        let cap = RequestCapture::default();
        let r = record(&cap, 200, 0, 0, false);
        let mut never = |_| unreachable!("0 % and 100 % draw nothing");
        assert!(!AccessLogFilter::Sample(0).matches(&r, &mut never));
        assert!(AccessLogFilter::Sample(1_000_000).matches(&r, &mut never));
        let mut rng = crate::prim::Rng::new(3);
        let tenth = AccessLogFilter::Sample(100_000);
        let kept = (0..10_000)
            .filter(|_| tenth.matches(&r, &mut |n| rng.below(n)))
            .count();
        assert!((800..1200).contains(&kept), "{kept}");
    }
}
