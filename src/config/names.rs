//! One name table per config enum: the words the native YAML reader accepts for
//! each value (any case) and the word the dump prints for it.
//!
//! Invariant: reading (`validate.rs`, `IoDriverChoice::from_str`) and printing
//! (`lower.rs`) use the same table, so a value always prints as a word that
//! reads back to it. A value's first entry is its printed name; later entries
//! are accepted aliases.

use super::model::{
    AppendAction, ClusterKind, DnsLookupFamily, IoDriverChoice, LbPolicy, ListenerCodec,
    StatsNaming, UnderscoreAction, UpstreamProtocol,
};

/// `(word, value)` pairs; the first word of each value is the one printed.
pub type Names<T> = &'static [(&'static str, T)];

pub const IO_DRIVERS: Names<IoDriverChoice> = &[
    ("auto", IoDriverChoice::Auto),
    ("uring", IoDriverChoice::Uring),
    ("io_uring", IoDriverChoice::Uring),
    ("iouring", IoDriverChoice::Uring),
    ("epoll", IoDriverChoice::Epoll),
    ("legacy", IoDriverChoice::Epoll),
];

pub const STATS_NAMINGS: Names<StatsNaming> = &[
    ("ringway", StatsNaming::Ringway),
    ("envoy", StatsNaming::Envoy),
];

pub const LISTENER_CODECS: Names<ListenerCodec> = &[
    ("auto", ListenerCodec::Auto),
    ("http1", ListenerCodec::Http1),
    ("http2", ListenerCodec::Http2),
];

/// A listener's `headers_with_underscores` (Envoy's `headers_with_underscores_action`).
pub const UNDERSCORE_ACTIONS: Names<UnderscoreAction> = &[
    ("allow", UnderscoreAction::Allow),
    ("reject_request", UnderscoreAction::RejectRequest),
    ("drop_header", UnderscoreAction::DropHeader),
];

/// A cluster's `protocol`.
pub const UPSTREAM_PROTOCOLS: Names<UpstreamProtocol> = &[
    ("http1", UpstreamProtocol::Http1),
    ("http2", UpstreamProtocol::Http2),
    ("auto", UpstreamProtocol::Auto),
];

pub const CLUSTER_KINDS: Names<ClusterKind> = &[
    ("static", ClusterKind::Static),
    ("strict_dns", ClusterKind::StrictDns),
    ("logical_dns", ClusterKind::LogicalDns),
];

pub const LB_POLICIES: Names<LbPolicy> = &[
    ("round_robin", LbPolicy::RoundRobin),
    ("least_request", LbPolicy::LeastRequest),
    ("random", LbPolicy::Random),
    ("ring_hash", LbPolicy::RingHash),
    ("maglev", LbPolicy::Maglev),
];

pub const DNS_LOOKUP_FAMILIES: Names<DnsLookupFamily> = &[
    ("auto", DnsLookupFamily::Auto),
    ("v4_only", DnsLookupFamily::V4Only),
    ("v6_only", DnsLookupFamily::V6Only),
    ("v4_preferred", DnsLookupFamily::V4Preferred),
    ("all", DnsLookupFamily::All),
];

/// A header mutation's `action` (Envoy's `append_action`, any case).
pub const APPEND_ACTIONS: Names<AppendAction> = &[
    ("append_if_exists_or_add", AppendAction::AppendIfExistsOrAdd),
    ("add_if_absent", AppendAction::AddIfAbsent),
    (
        "overwrite_if_exists_or_add",
        AppendAction::OverwriteIfExistsOrAdd,
    ),
    ("overwrite_if_exists", AppendAction::OverwriteIfExists),
];

/// The words of a route's `retry_on` list, one per condition of `RetryPolicy`.
pub mod retry_on {
    pub const FIVE_XX: &str = "5xx";
    pub const GATEWAY_ERROR: &str = "gateway-error";
    pub const CONNECT_FAILURE: &str = "connect-failure";
    pub const RESET: &str = "reset";
    pub const REFUSED_STREAM: &str = "refused-stream";
    pub const RETRIABLE_STATUS_CODES: &str = "retriable-status-codes";
    pub const RETRIABLE_4XX: &str = "retriable-4xx";
    /// Between the words of `retry_on`.
    pub const SEPARATOR: &str = ",";
}

/// The value `text` names (any case), if any.
pub fn parse<T: Copy>(table: Names<T>, text: &str) -> Option<T> {
    table
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(text))
        .map(|(_, value)| *value)
}

/// The word printed for `value`: its first entry in `table`.
pub fn name<T: Copy + PartialEq>(table: Names<T>, value: T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| *v == value)
        .map(|(word, _)| *word)
        // The tests below give every variant of every table a name.
        .expect("every value has a name in its table")
}

/// The printed words, comma separated, for error messages (`auto, uring, epoll`).
pub fn listing<T: Copy + PartialEq>(table: Names<T>) -> String {
    let mut words: Vec<&str> = Vec::new();
    for (word, value) in table {
        if name(table, *value) == *word {
            words.push(word);
        }
    }
    words.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant of `$ty`, listed beside an exhaustive match: a new
    /// variant fails to compile here until it is listed (and named).
    macro_rules! every {
        ($ty:ident: $($v:ident),+) => {{
            let _exhaustive = |v: $ty| match v {
                $($ty::$v)|+ => (),
            };
            [$($ty::$v),+]
        }};
    }

    fn round_trips<T: Copy + PartialEq + std::fmt::Debug>(table: Names<T>, values: &[T]) {
        for &value in values {
            let word = name(table, value);
            assert_eq!(parse(table, word), Some(value), "{value:?}");
            assert_eq!(parse(table, &word.to_ascii_uppercase()), Some(value));
        }
    }

    #[test]
    fn every_value_has_a_name_that_reads_back() {
        round_trips(IO_DRIVERS, &every!(IoDriverChoice: Auto, Uring, Epoll));
        round_trips(STATS_NAMINGS, &every!(StatsNaming: Ringway, Envoy));
        round_trips(LISTENER_CODECS, &every!(ListenerCodec: Auto, Http1, Http2));
        round_trips(
            UNDERSCORE_ACTIONS,
            &every!(UnderscoreAction: Allow, RejectRequest, DropHeader),
        );
        round_trips(
            CLUSTER_KINDS,
            &every!(ClusterKind: Static, StrictDns, LogicalDns),
        );
        round_trips(
            LB_POLICIES,
            &every!(LbPolicy: RoundRobin, LeastRequest, Random, RingHash, Maglev),
        );
        round_trips(
            DNS_LOOKUP_FAMILIES,
            &every!(DnsLookupFamily: Auto, V4Only, V6Only, V4Preferred, All),
        );
    }

    #[test]
    fn listings_name_each_value_once() {
        assert_eq!(listing(IO_DRIVERS), "auto, uring, epoll");
        assert_eq!(listing(CLUSTER_KINDS), "static, strict_dns, logical_dns");
        assert_eq!(
            listing(LB_POLICIES),
            "round_robin, least_request, random, ring_hash, maglev"
        );
        assert_eq!(
            listing(DNS_LOOKUP_FAMILIES),
            "auto, v4_only, v6_only, v4_preferred, all"
        );
    }

    #[test]
    fn aliases_read_but_do_not_print() {
        assert_eq!(parse(IO_DRIVERS, "io_uring"), Some(IoDriverChoice::Uring));
        assert_eq!(parse(IO_DRIVERS, "legacy"), Some(IoDriverChoice::Epoll));
        assert_eq!(name(IO_DRIVERS, IoDriverChoice::Epoll), "epoll");
        assert_eq!(parse(IO_DRIVERS, "kqueue"), None);
    }
}
