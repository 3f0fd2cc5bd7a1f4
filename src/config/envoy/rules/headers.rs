//! Rule tables: Header additions (`HeaderValueOption`), read by `envoy/headers.rs`.
//! One table per Envoy message; see `rules/mod.rs` for the order.

use super::{Rule::*, Table};

/// `envoy.config.core.v3.HeaderValueOption`, read by `add`.
#[rustfmt::skip]
pub const HEADER_VALUE_OPTION: Table = &[
    ("append", Map),
    ("append_action", Map),
    ("header", Map),
    ("keep_empty_value", Map),
];

/// `envoy.config.core.v3.HeaderValue`, read by `add`.
#[rustfmt::skip]
pub const HEADER_VALUE: Table = &[
    ("key", Map),
    ("value", Map),
    ("raw_value", Refuse("header values as raw bytes are not implemented; use value")),
];
