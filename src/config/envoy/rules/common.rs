//! Rule tables: `Address` and `SocketAddress`, read by `envoy/common.rs`.
//! One table per Envoy message; see `rules/mod.rs` for the order.

use super::{is_tcp, Rule::*, Table};

/// `envoy.config.core.v3.Address`, read by `address`.
#[rustfmt::skip]
pub const ADDRESS: Table = &[
    ("socket_address", Map),
    ("envoy_internal_address", Refuse("internal listeners are not implemented")),
    ("pipe", Refuse("unix domain sockets are not implemented")),
];

/// `envoy.config.core.v3.SocketAddress`, read by `address`.
#[rustfmt::skip]
pub const SOCKET_ADDRESS: Table = &[
    ("address", Map),
    ("port_value", Map),
    ("protocol", DefaultOnly(is_tcp, "only TCP is implemented")),
    ("ipv4_compat", Warn("dual-stack sockets follow the kernel's default")),
    ("named_port", Refuse("named ports are not implemented; use port_value")),
    ("resolver_name", Refuse("custom resolvers are not implemented")),
];
