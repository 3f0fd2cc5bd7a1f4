//! Rule tables: `layered_runtime`, read by `envoy/runtime.rs`.
//! One table per Envoy message; see `rules/mod.rs` for the order.

use super::{Rule::*, Table};

/// `envoy.config.bootstrap.v3.LayeredRuntime`, read by `layered_runtime`.
#[rustfmt::skip]
pub const LAYERED_RUNTIME: Table = &[
    ("layers", Map),
];

/// `envoy.config.bootstrap.v3.RuntimeLayer`, read by `layered_runtime`.
#[rustfmt::skip]
pub const RUNTIME_LAYER: Table = &[
    ("name", Map),
    ("static_layer", Map),
    ("admin_layer", Warn("runtime changes through the admin interface are not implemented")),
    ("disk_layer", Refuse("runtime from disk is not implemented; write the values in a static_layer")),
    ("rtds_layer", Refuse("RTDS (runtime over xDS) is not implemented")),
];
