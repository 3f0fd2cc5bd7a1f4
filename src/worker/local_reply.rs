//! Every answer ringway gives on its own, in one place.
//!
//! A request that ringway cannot or will not forward — bad framing, a timeout,
//! no route, no healthy host, an open breaker, a failed upstream — gets exactly
//! one `LocalReply`. The value is the cause; everything that follows from the
//! cause is read off it here: the status, the body text, extra headers, the
//! listener counter it bumps, the access-log response flag it raises, and
//! whether the connection can carry on after it. Nothing downstream turns a
//! status number back into a cause (Envoy's `sendLocalReply` with response
//! flags, Sōzu's `DefaultAnswerStatus`).
//!
//! A route that answers itself (`redirect`, `direct_response`) is a cause
//! too, `LocalReply::Route`: it carries the route's status, its headers
//! (a redirect's `location`) and its body, borrowed from the config and the
//! exchange's buffers for the one call that writes them.
//!
//! The access log's `%RESPONSE_CODE_DETAILS%` is read off the cause too
//! (`details`), in Envoy's words for the same cause.
//!
//! Upstream failures also count against the cluster and host that failed; that
//! happens where the failure is seen (`SessionTap::upstream_error`), before the
//! reply is chosen.

use std::fmt;

use crate::{
    access_log::{ResponseDetails, ResponseFlags as Flags},
    codec::{
        encode::{ReplyBody, TextLine, Verbatim, TEXT_PLAIN},
        CodecError,
    },
    stats::names::ListenerCounter,
    upstream::{cluster::Overflow, UpstreamError},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalReply<'a> {
    /// The request broke HTTP/1.1 grammar or framing, or one of the listener's limits.
    BadRequest(CodecError),
    /// The request head did not arrive within `request_headers_timeout`.
    HeadersTimeout,
    /// The request body stalled for longer than the body read timeout.
    BodyTimeout,
    /// The whole request did not arrive within `request_timeout` (Envoy's 408
    /// `request timeout`).
    RequestTimeout,
    /// No body bytes moved for `stream_idle_timeout` before the response
    /// started (Envoy's 408 `stream timeout`).
    StreamIdleTimeout,
    /// The exchange outlived `max_stream_duration` before the response
    /// started (Envoy's 408 `downstream duration timeout`).
    MaxStreamDuration,
    /// The listener's own `health_check` path.
    HealthCheck(Liveness),
    /// No virtual host or route matched.
    NoRoute,
    /// The cluster has no host that may take requests.
    NoHealthyUpstream,
    /// A circuit breaker is open.
    Overflow(Overflow),
    /// The client address has `max_upstream_requests_per_client` in flight.
    ClientLimit,
    /// The upstream failed before a response head arrived.
    Upstream(UpstreamError),
    /// The matched route answers itself (a redirect or a direct response).
    Route(RouteReply<'a>),
    /// One of ringway's own answers to a routed request (no healthy host, a
    /// failed upstream, …), carrying the route's response header mutations as
    /// Envoy's router adds them to its local replies. Everything but the
    /// headers is the cause's.
    Decorated(Decorated<'a>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decorated<'a> {
    pub cause: &'a LocalReply<'a>,
    /// The cause's own extra lines, then the route's added headers.
    pub headers: &'a [u8],
}

/// A route's own answer, as written: nothing about it is ringway's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteReply<'a> {
    pub status: u16,
    /// Whole `name: value\r\n` lines (a redirect's `location`).
    pub headers: &'a [u8],
    pub body: &'a [u8],
}

impl RouteReply<'_> {
    /// Whether the route's own headers name the body's type (Envoy then does
    /// not add `text/plain`).
    fn has_content_type(&self) -> bool {
        has_content_type(self.headers)
    }
}

fn has_content_type(lines: &[u8]) -> bool {
    lines
        .split(|&b| b == b'\n')
        .any(|line| line.len() > 13 && line[..13].eq_ignore_ascii_case(b"content-type:"))
}

/// What a listener's health-check path reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Live,
    /// Draining, or failed by `POST /healthcheck/fail`.
    Failing,
}

/// What may happen to the connection after the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterReply {
    /// Where the next request would start is unknown (bad framing, a stalled
    /// head or body): the connection closes.
    Close,
    /// The request was understood: the connection may carry on, if the
    /// request's body (if any) has been consumed and the client keeps alive.
    MayKeepAlive,
}

impl<'a> LocalReply<'a> {
    pub fn status(self) -> u16 {
        match self {
            LocalReply::BadRequest(e) => match e {
                CodecError::HeadersTooLarge | CodecError::TooManyHeaders => 431,
                CodecError::UriTooLong => 414,
                CodecError::BodyTooLarge => 413,
                CodecError::Version => 505,
                CodecError::MethodNotAllowed => 405,
                _ => 400,
            },
            LocalReply::HeadersTimeout
            | LocalReply::BodyTimeout
            | LocalReply::RequestTimeout
            | LocalReply::StreamIdleTimeout
            | LocalReply::MaxStreamDuration => 408,
            LocalReply::HealthCheck(Liveness::Live) => 200,
            LocalReply::HealthCheck(Liveness::Failing) => 503,
            LocalReply::NoRoute => 404,
            LocalReply::NoHealthyUpstream | LocalReply::Overflow(_) => 503,
            LocalReply::ClientLimit => 429,
            // Envoy's mapping: connect failures and resets before headers are
            // 503, a timeout 504, a response that cannot be framed 502.
            LocalReply::Upstream(e) => match e {
                UpstreamError::NoHealthyUpstream
                | UpstreamError::ConnectFailed(_)
                | UpstreamError::ConnectTimeout
                | UpstreamError::Tls(_)
                | UpstreamError::Reset
                | UpstreamError::Refused => 503,
                UpstreamError::Timeout => 504,
                UpstreamError::BadResponse(_) => 502,
            },
            LocalReply::Route(r) => r.status,
            LocalReply::Decorated(d) => d.cause.status(),
        }
    }

    /// Header lines to add (each `name: value\r\n`).
    pub fn extra_headers(self) -> &'a [u8] {
        match self {
            LocalReply::Overflow(_) => b"x-ringway-overloaded: true\r\n",
            LocalReply::ClientLimit => b"x-ringway-overloaded: client\r\n",
            LocalReply::Route(r) => r.headers,
            LocalReply::Decorated(d) => d.headers,
            _ => b"",
        }
    }

    pub fn after(self) -> AfterReply {
        match self {
            LocalReply::Decorated(d) => d.cause.after(),
            // The request may be half read (or the exchange cut midway).
            LocalReply::BadRequest(_)
            | LocalReply::HeadersTimeout
            | LocalReply::BodyTimeout
            | LocalReply::RequestTimeout
            | LocalReply::StreamIdleTimeout
            | LocalReply::MaxStreamDuration => AfterReply::Close,
            _ => AfterReply::MayKeepAlive,
        }
    }

    /// The listener counter this reply bumps, beyond the status class.
    pub fn counter(self) -> Option<ListenerCounter> {
        Some(match self {
            LocalReply::Decorated(d) => return d.cause.counter(),
            LocalReply::BadRequest(e) => match e {
                CodecError::HeadersTooLarge | CodecError::TooManyHeaders => {
                    ListenerCounter::DownstreamRqHeadersTooLarge
                }
                CodecError::UriTooLong => ListenerCounter::DownstreamRqUriTooLarge,
                CodecError::BodyTooLarge => ListenerCounter::DownstreamRqBodyTooLarge,
                CodecError::UnderscoreInHeaderName => {
                    ListenerCounter::Http1RequestsRejectedWithUnderscoresInHeaders
                }
                _ => ListenerCounter::DownstreamRqBadFraming,
            },
            LocalReply::HeadersTimeout | LocalReply::BodyTimeout | LocalReply::RequestTimeout => {
                ListenerCounter::DownstreamRqTimeout
            }
            LocalReply::StreamIdleTimeout => ListenerCounter::DownstreamRqIdleTimeout,
            LocalReply::MaxStreamDuration => ListenerCounter::DownstreamRqMaxDurationReached,
            LocalReply::NoRoute => ListenerCounter::DownstreamRqNoRoute,
            LocalReply::ClientLimit => ListenerCounter::DownstreamRqClientLimit,
            // Counted where they are decided: the health check when its path
            // matches, overflow and no-healthy when the cluster is asked for a
            // host, upstream failures where they happen.
            LocalReply::HealthCheck(_)
            | LocalReply::NoHealthyUpstream
            | LocalReply::Overflow(_)
            | LocalReply::Upstream(_) => return None,
            // An answer the config asked for, counted by its status class only.
            LocalReply::Route(_) => return None,
        })
    }

    /// The access-log response flag this reply raises (0: none of its own).
    pub fn flag(self) -> u16 {
        match self {
            LocalReply::Decorated(d) => d.cause.flag(),
            LocalReply::BadRequest(_) | LocalReply::HeadersTimeout | LocalReply::BodyTimeout => {
                Flags::DOWNSTREAM_PROTOCOL_ERROR
            }
            LocalReply::NoRoute => Flags::NO_ROUTE,
            LocalReply::NoHealthyUpstream => Flags::NO_HEALTHY_UPSTREAM,
            LocalReply::Overflow(_) => Flags::UPSTREAM_OVERFLOW,
            LocalReply::ClientLimit => Flags::RATE_LIMITED,
            // Raised by `SessionTap::upstream_error` with the cause's own flag.
            LocalReply::HealthCheck(_) | LocalReply::Upstream(_) => 0,
            LocalReply::Route(_) => 0,
            LocalReply::StreamIdleTimeout => Flags::STREAM_IDLE_TIMEOUT,
            LocalReply::MaxStreamDuration => Flags::DURATION_TIMEOUT,
            // Envoy raises no flag for its `request_timeout` either.
            LocalReply::RequestTimeout => 0,
        }
    }
}

impl LocalReply<'_> {
    /// Envoy's `%RESPONSE_CODE_DETAILS%` for this cause. An upstream reset's
    /// transport failure reason (`delayed_connect_error:_111`) is appended by
    /// the access log from what `SessionTap::upstream_error` recorded.
    pub fn details(self) -> ResponseDetails {
        use ResponseDetails::{Fixed, UpstreamReset};
        match self {
            LocalReply::Decorated(d) => d.cause.details(),
            LocalReply::BadRequest(e) => Fixed(match e {
                CodecError::HeadersTooLarge => "http1.headers_too_large",
                CodecError::TooManyHeaders => "http1.too_many_headers",
                CodecError::LengthAndChunked => "http1.content_length_and_chunked_not_allowed",
                CodecError::BadContentLength => "http1.content_length_not_allowed",
                CodecError::BadTransferEncoding => "http1.invalid_transfer_encoding",
                CodecError::BodyTooLarge => "request_payload_too_large",
                CodecError::MissingHost => "missing_host_header",
                CodecError::UnderscoreInHeaderName => "http1.unexpected_underscore",
                _ => "http1.codec_error",
            }),
            LocalReply::HeadersTimeout => Fixed("request_header_timeout"),
            LocalReply::BodyTimeout | LocalReply::StreamIdleTimeout => Fixed("stream_idle_timeout"),
            LocalReply::RequestTimeout => Fixed("request_overall_timeout"),
            LocalReply::MaxStreamDuration => Fixed("max_duration_timeout"),
            LocalReply::HealthCheck(Liveness::Live) => Fixed("health_check_ok"),
            LocalReply::HealthCheck(Liveness::Failing) => Fixed("health_check_failed"),
            LocalReply::NoRoute => Fixed("route_not_found"),
            LocalReply::NoHealthyUpstream => Fixed("no_healthy_upstream"),
            LocalReply::Overflow(_) => UpstreamReset("overflow"),
            // A local limit on the client, flagged RL as Envoy's local rate limit is.
            LocalReply::ClientLimit => Fixed("local_rate_limited"),
            LocalReply::Upstream(e) => match e {
                UpstreamError::NoHealthyUpstream => Fixed("no_healthy_upstream"),
                UpstreamError::ConnectFailed(_) | UpstreamError::Tls(_) => {
                    UpstreamReset("remote_connection_failure")
                }
                UpstreamError::ConnectTimeout => UpstreamReset("connection_timeout"),
                UpstreamError::Reset => UpstreamReset("connection_termination"),
                UpstreamError::Refused => UpstreamReset("remote_refused_stream_reset"),
                UpstreamError::Timeout => Fixed("upstream_response_timeout"),
                UpstreamError::BadResponse(_) => UpstreamReset("protocol_error"),
            },
            // Envoy's router answers both redirects and direct responses as a
            // "direct response" entry.
            LocalReply::Route(_) => Fixed("direct_response"),
        }
    }
}

/// ringway's own causes answer with their reason as one line of text; a
/// route's answer is its configured body, byte for byte.
impl ReplyBody for LocalReply<'_> {
    fn content_type(&self) -> Option<&'static str> {
        match self {
            LocalReply::Route(r) => verbatim(r).content_type(),
            LocalReply::Decorated(d) if has_content_type(d.headers) => None,
            LocalReply::Decorated(d) => d.cause.content_type(),
            _ => TextLine(self).content_type(),
        }
    }
    fn byte_len(&self) -> usize {
        match self {
            LocalReply::Route(r) => r.body.len(),
            LocalReply::Decorated(d) => d.cause.byte_len(),
            _ => TextLine(self).byte_len(),
        }
    }
    fn write_body(&self, out: &mut Vec<u8>) {
        match self {
            LocalReply::Route(r) => out.extend_from_slice(r.body),
            LocalReply::Decorated(d) => d.cause.write_body(out),
            _ => TextLine(self).write_body(out),
        }
    }
}

fn verbatim<'a>(r: &RouteReply<'a>) -> Verbatim<'a> {
    Verbatim {
        bytes: r.body,
        content_type: (!r.has_content_type()).then_some(TEXT_PLAIN),
    }
}

/// The reason in words (for ringway's own causes; a route's body is not text).
impl fmt::Display for LocalReply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalReply::BadRequest(e) => e.fmt(f),
            LocalReply::HeadersTimeout => f.write_str("request headers not received in time"),
            LocalReply::BodyTimeout => f.write_str("request body not received in time"),
            LocalReply::RequestTimeout => f.write_str("request timeout"),
            LocalReply::StreamIdleTimeout => f.write_str("stream timeout"),
            LocalReply::MaxStreamDuration => f.write_str("downstream duration timeout"),
            LocalReply::HealthCheck(Liveness::Live) => f.write_str("LIVE"),
            LocalReply::HealthCheck(Liveness::Failing) => f.write_str("DRAINING"),
            LocalReply::NoRoute => f.write_str("no route matched this request"),
            LocalReply::NoHealthyUpstream => f.write_str("no healthy upstream"),
            LocalReply::Overflow(_) => f.write_str("upstream overflow"),
            LocalReply::ClientLimit => f.write_str("too many requests from this client"),
            LocalReply::Upstream(e) => e.fmt(f),
            LocalReply::Route(r) => write!(f, "route reply {}", r.status),
            LocalReply::Decorated(d) => d.cause.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_raise_envoys_flags() {
        let printed = |r: LocalReply| {
            let mut flags = Flags::default();
            flags.set(r.flag());
            let mut out = Vec::new();
            flags.write(&mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(printed(LocalReply::StreamIdleTimeout), "SI");
        assert_eq!(printed(LocalReply::MaxStreamDuration), "DT");
        assert_eq!(printed(LocalReply::RequestTimeout), "-");
        assert_eq!(Flags::from_code("SI"), Some(Flags::STREAM_IDLE_TIMEOUT));
    }

    #[test]
    fn statuses_follow_envoy() {
        assert_eq!(LocalReply::NoRoute.status(), 404);
        assert_eq!(
            LocalReply::Upstream(UpstreamError::ConnectTimeout).status(),
            503
        );
        assert_eq!(LocalReply::Upstream(UpstreamError::Timeout).status(), 504);
        assert_eq!(
            LocalReply::Upstream(UpstreamError::BadResponse(CodecError::BadChunk)).status(),
            502
        );
        assert_eq!(
            LocalReply::BadRequest(CodecError::HeadersTooLarge).status(),
            431
        );
        assert_eq!(LocalReply::BadRequest(CodecError::Version).status(), 505);
        assert_eq!(LocalReply::HeadersTimeout.status(), 408);
    }

    #[test]
    fn every_codec_error_is_a_client_error_status() {
        use CodecError::*;
        for e in [
            Malformed,
            Version,
            Http09,
            HeadersTooLarge,
            TooManyHeaders,
            UriTooLong,
            BadTarget,
            MissingHost,
            BadHost,
            LengthAndChunked,
            BadContentLength,
            BadTransferEncoding,
            BadHeaderValue,
            BadChunk,
            BodyTooLarge,
            UnexpectedEof,
            MethodNotAllowed,
        ] {
            let status = LocalReply::BadRequest(e).status();
            assert!((400..=505).contains(&status), "{e:?}: {status}");
        }
        assert_eq!(LocalReply::BadRequest(TooManyHeaders).status(), 431);
    }

    #[test]
    fn framing_errors_close_and_routing_answers_may_keep_alive() {
        assert_eq!(
            LocalReply::BadRequest(CodecError::BadChunk).after(),
            AfterReply::Close
        );
        assert_eq!(LocalReply::BodyTimeout.after(), AfterReply::Close);
        assert_eq!(LocalReply::NoRoute.after(), AfterReply::MayKeepAlive);
        assert_eq!(
            LocalReply::Overflow(Overflow::Requests).after(),
            AfterReply::MayKeepAlive
        );
    }

    #[test]
    fn each_cause_has_its_own_counter() {
        // A missing Host is bad framing, a long URI is not: the cause decides,
        // not the status number both share with other causes.
        assert_eq!(
            LocalReply::BadRequest(CodecError::MissingHost).counter(),
            Some(ListenerCounter::DownstreamRqBadFraming)
        );
        assert_eq!(
            LocalReply::BadRequest(CodecError::UriTooLong).counter(),
            Some(ListenerCounter::DownstreamRqUriTooLarge)
        );
        assert_eq!(LocalReply::Upstream(UpstreamError::Reset).counter(), None);
        assert_eq!(LocalReply::NoRoute.flag(), Flags::NO_ROUTE);
    }

    #[test]
    fn details_follow_envoy_words_for_each_cause() {
        let words = |r: LocalReply| {
            let mut out = Vec::new();
            r.details()
                .write(&mut out, Some("delayed_connect_error:_111"));
            String::from_utf8(out).unwrap()
        };
        assert_eq!(words(LocalReply::NoRoute), "route_not_found");
        assert_eq!(
            words(LocalReply::Upstream(UpstreamError::ConnectFailed(
                std::io::ErrorKind::ConnectionRefused
            ))),
            "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111}"
        );
        assert_eq!(
            words(LocalReply::Upstream(UpstreamError::Timeout)),
            "upstream_response_timeout"
        );
        assert_eq!(words(LocalReply::NoHealthyUpstream), "no_healthy_upstream");
        let cause = LocalReply::NoRoute;
        let decorated = LocalReply::Decorated(Decorated {
            cause: &cause,
            headers: b"",
        });
        assert_eq!(decorated.details(), cause.details());
    }

    #[test]
    fn a_route_reply_is_written_as_configured() {
        let reply = LocalReply::Route(RouteReply {
            status: 302,
            headers: b"location: https://a.test/x\r\n",
            body: b"",
        });
        assert_eq!(reply.status(), 302);
        assert_eq!(reply.extra_headers(), b"location: https://a.test/x\r\n");
        assert_eq!(reply.after(), AfterReply::MayKeepAlive);
        assert_eq!((reply.counter(), reply.flag()), (None, 0));
        assert_eq!((reply.byte_len(), reply.content_type()), (0, None));
        let json = LocalReply::Route(RouteReply {
            status: 200,
            headers: b"Content-Type: application/json\r\n",
            body: b"{}",
        });
        assert_eq!((json.byte_len(), json.content_type()), (2, None));
        let text = LocalReply::Route(RouteReply {
            status: 200,
            headers: b"",
            body: b"ok",
        });
        assert_eq!(text.content_type(), Some(TEXT_PLAIN));
        let mut out = Vec::new();
        text.write_body(&mut out);
        assert_eq!(out, b"ok", "no newline is added to a configured body");
    }

    #[test]
    fn a_decorated_reply_is_its_cause_with_more_headers() {
        let cause = LocalReply::Overflow(Overflow::Requests);
        let reply = LocalReply::Decorated(Decorated {
            cause: &cause,
            headers: b"x-ringway-overloaded: true\r\nx-edge: 1\r\n",
        });
        assert_eq!(reply.status(), 503);
        assert_eq!(
            (reply.counter(), reply.flag()),
            (cause.counter(), cause.flag())
        );
        assert_eq!(reply.byte_len(), cause.byte_len());
        assert_eq!(reply.content_type(), Some(TEXT_PLAIN));
        assert_eq!(reply.to_string(), "upstream overflow");
    }

    #[test]
    fn body_is_the_cause_in_words() {
        assert_eq!(
            LocalReply::Overflow(Overflow::Pending).to_string(),
            "upstream overflow"
        );
        assert_eq!(
            LocalReply::Upstream(UpstreamError::Timeout).to_string(),
            "upstream request timeout"
        );
    }
}
