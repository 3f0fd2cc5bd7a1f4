//! Rule tables: Weighted clusters, redirects and direct responses, read by
//! `envoy/route_action.rs`.
//! One table per Envoy message; see `rules/mod.rs` for the order.

use super::{Rule::*, Table};

pub const PER_CLUSTER: &str =
    "per-cluster settings of weighted clusters are not implemented; set them on the route";

/// `envoy.config.route.v3.WeightedCluster`, read by `weighted_clusters`.
#[rustfmt::skip]
pub const WEIGHTED_CLUSTER: Table = &[
    ("clusters", Map),
    ("total_weight", Map),
    ("header_name", Refuse("choosing the cluster by a request header is not implemented")),
    ("random_value_specifier", Refuse("a fixed random value is not implemented; each request draws its own")),
    ("runtime_key_prefix", Refuse("runtime weights are not implemented; the configured weights apply")),
];

/// `envoy.config.route.v3.WeightedCluster.ClusterWeight`, read by `weighted_clusters`.
#[rustfmt::skip]
pub const CLUSTER_WEIGHT: Table = &[
    ("host_rewrite_literal", Map),
    ("name", Map),
    ("request_headers_to_add", Map),
    ("request_headers_to_remove", Map),
    ("response_headers_to_add", Map),
    ("response_headers_to_remove", Map),
    ("weight", Map),
    ("cluster_header", Refuse("cluster_header is not implemented; name the cluster")),
    ("metadata_match", Refuse("subset load balancing is not implemented")),
    ("per_filter_config", Refuse(PER_CLUSTER)),
    ("typed_per_filter_config", Refuse(PER_CLUSTER)),
];

/// `envoy.config.route.v3.RedirectAction`, read by `redirect`.
#[rustfmt::skip]
pub const REDIRECT_ACTION: Table = &[
    ("host_redirect", Map),
    ("https_redirect", Map),
    ("path_redirect", Map),
    ("port_redirect", Map),
    ("prefix_rewrite", Map),
    ("response_code", Map),
    ("scheme_redirect", Map),
    ("strip_query", Map),
    ("regex_rewrite", Refuse("regex rewrites are not implemented; use prefix_rewrite or path_redirect")),
];

/// `envoy.config.route.v3.DirectResponseAction`, read by `direct_response`.
#[rustfmt::skip]
pub const DIRECT_RESPONSE_ACTION: Table = &[
    ("body", Map),
    ("status", Map),
];

/// `envoy.config.core.v3.DataSource` (a direct response `body`), read by `direct_response`.
#[rustfmt::skip]
pub const BODY_DATA_SOURCE: Table = &[
    ("filename", Map),
    ("inline_string", Map),
    ("environment_variable", Refuse("a body from the environment is not implemented; use inline_string or filename")),
    ("inline_bytes", Refuse("a body as base64 bytes is not implemented; use inline_string or filename")),
    ("watched_directory", Refuse("a watched body file is not implemented; the file is read at load and reload")),
];
