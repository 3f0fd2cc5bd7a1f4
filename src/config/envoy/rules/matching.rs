//! Rule tables: Route, header and query matchers and regexes, read by `envoy/matching.rs`.
//! One table per Envoy message; see `rules/mod.rs` for the order.

use super::{is_false, Rule::*, Table};

pub const NOT_RE2: &str = "ECMAScript regexes are not implemented; use safe_regex (RE2)";

/// `envoy.config.route.v3.RouteMatch`, read by `route_match`.
#[rustfmt::skip]
pub const ROUTE_MATCH: Table = &[
    ("case_sensitive", Map),
    ("headers", Map),
    ("path", Map),
    ("path_separated_prefix", Map),
    ("prefix", Map),
    ("query_parameters", Map),
    ("safe_regex", Map),
    ("connect_matcher", Refuse("CONNECT is not implemented")),
    ("dynamic_metadata", Refuse("metadata matchers are not implemented")),
    ("filter_state", Refuse("filter state matchers are not implemented")),
    ("grpc", Refuse("gRPC matching is not implemented")),
    ("path_match_policy", Refuse("path match extensions are not implemented")),
    ("regex", Refuse(NOT_RE2)),
    ("runtime_fraction", Refuse("runtime fractions are not implemented")),
    ("tls_context", Refuse("matching routes on the client's TLS (presented, validated) is not implemented")),
];

/// `envoy.type.matcher.v3.RegexMatcher`, read by `regex_matcher`.
#[rustfmt::skip]
pub const REGEX_MATCHER: Table = &[
    ("google_re2", Map),
    ("regex", Map),
];

/// `envoy.type.matcher.v3.RegexMatcher.GoogleRE2`, read by `regex_matcher`.
#[rustfmt::skip]
pub const GOOGLE_RE2: Table = &[
    ("max_program_size", Warn("ringway's regex engine bounds programs itself")),
];

/// `envoy.type.matcher.v3.StringMatcher`, read by `string_matcher`.
#[rustfmt::skip]
pub const STRING_MATCHER: Table = &[
    ("contains", Map),
    ("exact", Map),
    ("ignore_case", Map),
    ("prefix", Map),
    ("safe_regex", Map),
    ("suffix", Map),
    ("custom", Refuse("custom string matchers are not implemented")),
];

/// `envoy.config.route.v3.HeaderMatcher`, read by `header_matcher`.
#[rustfmt::skip]
pub const HEADER_MATCHER: Table = &[
    ("contains_match", Map),
    ("exact_match", Map),
    ("invert_match", Map),
    ("name", Map),
    ("prefix_match", Map),
    ("present_match", Map),
    ("range_match", Map),
    ("safe_regex_match", Map),
    ("string_match", Map),
    ("suffix_match", Map),
    ("treat_missing_header_as_empty", Map),
    ("regex_match", Refuse(NOT_RE2)),
];

/// `envoy.type.v3.Int64Range` (`range_match`), read by `header_matcher`.
#[rustfmt::skip]
pub const INT64_RANGE: Table = &[
    ("end", Map),
    ("start", Map),
];

/// `envoy.config.route.v3.QueryParameterMatcher`, read by `query_matcher`.
#[rustfmt::skip]
pub const QUERY_PARAMETER_MATCHER: Table = &[
    ("name", Map),
    ("present_match", Map),
    ("string_match", Map),
    // v2: `value`, exact unless `regex: true`.
    ("value", Map),
    ("regex", DefaultOnly(is_false, NOT_RE2)),
];

/// `envoy.type.matcher.v3.RegexMatchAndSubstitute`, read by `regex_rewrite`.
#[rustfmt::skip]
pub const REGEX_MATCH_AND_SUBSTITUTE: Table = &[
    ("pattern", Map),
    ("substitution", Map),
];
