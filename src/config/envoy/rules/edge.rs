//! Rule tables: client addresses and forwarding, internal addresses, buffer limits and
//! route stream durations, read by `envoy/edge.rs`.
//! One table per Envoy message; see `rules/mod.rs` for the order.

use super::{Rule::*, Table};

pub const GRPC: &str = "gRPC timeout headers are not implemented";

/// `google.protobuf.{Bool,UInt32}Value`, read by `wrapped`.
#[rustfmt::skip]
pub const WRAPPED_VALUE: Table = &[
    ("value", Map),
];

/// `…http_connection_manager.v3.HttpConnectionManager.InternalAddressConfig`,
/// read by `internal_addresses`.
#[rustfmt::skip]
pub const INTERNAL_ADDRESS_CONFIG: Table = &[
    ("cidr_ranges", Map),
    ("unix_sockets", Map),
];

/// `envoy.config.core.v3.CidrRange`, read by `internal_addresses`.
#[rustfmt::skip]
pub const CIDR_RANGE: Table = &[
    ("address_prefix", Map),
    ("prefix_len", Map),
];

/// `envoy.config.route.v3.RouteAction.MaxStreamDuration`, read by `route_max_stream_duration`.
#[rustfmt::skip]
pub const MAX_STREAM_DURATION: Table = &[
    ("max_stream_duration", Map),
    ("grpc_timeout_header_max", Refuse(GRPC)),
    ("grpc_timeout_header_offset", Refuse(GRPC)),
];
