//! Rule tables: Access logs, their formats and filters, read by `envoy/access_log.rs`.
//! One table per Envoy message; see `rules/mod.rs` for the order.

use super::{is_false, Rule::*, Table};

pub const NO: &str = "this access log filter is not implemented; ringway has status_code, duration, not_health_check, response_flag, runtime (static), and and or filters";

/// `envoy.config.accesslog.v3.AccessLog`, read by `entry`.
#[rustfmt::skip]
pub const ACCESS_LOG: Table = &[
    ("config", Map),
    ("filter", Map),
    ("name", Map),
    ("typed_config", Map),
];

/// `envoy.access_loggers.stream.v3.{Stdout,Stderr}AccessLog`, read by `stream_log`.
#[rustfmt::skip]
pub const STREAM_ACCESS_LOG: Table = &[
    ("@type", Map),
    ("log_format", Map),
];

/// `envoy.access_loggers.file.v3.FileAccessLog`, read by `file_log`.
#[rustfmt::skip]
pub const FILE_ACCESS_LOG: Table = &[
    ("@type", Map),
    ("format", Map),
    ("json_format", Map),
    ("log_format", Map),
    ("path", Map),
    ("typed_json_format", Map),
];

/// `envoy.config.core.v3.SubstitutionFormatString`, read by `log_format`.
#[rustfmt::skip]
pub const SUBSTITUTION_FORMAT: Table = &[
    ("json_format", Map),
    ("text_format", Map),
    ("text_format_source", Map),
    ("omit_empty_values", DefaultOnly(is_false, "omitting empty values is not implemented; they print `-` (null in JSON)")),
    ("content_type", Warn("the content type only matters to local replies")),
    ("formatters", Refuse("formatter extensions are not implemented")),
    ("json_format_options", Refuse("JSON format options (sorted keys) are not implemented; keys print in config order")),
];

/// `envoy.config.core.v3.DataSource` (a format's `text_format_source`), read by `log_format`.
#[rustfmt::skip]
pub const FORMAT_DATA_SOURCE: Table = &[
    ("inline_string", Map),
    ("environment_variable", Refuse("formats read from the environment are not implemented; use inline_string")),
    ("filename", Refuse("formats read from a file are not implemented; use inline_string")),
    ("inline_bytes", Refuse("formats given as bytes are not implemented; use inline_string")),
];

/// `envoy.config.accesslog.v3.AccessLogFilter`, read by `filter`.
#[rustfmt::skip]
pub const ACCESS_LOG_FILTER: Table = &[
    ("and_filter", Map),
    ("duration_filter", Map),
    ("not_health_check_filter", Map),
    ("or_filter", Map),
    ("response_flag_filter", Map),
    ("runtime_filter", Map),
    ("status_code_filter", Map),
    ("extension_filter", Refuse(NO)),
    ("grpc_status_filter", Refuse(NO)),
    ("header_filter", Refuse(NO)),
    ("log_type_filter", Refuse(NO)),
    ("metadata_filter", Refuse(NO)),
    ("traceable_filter", Refuse(NO)),
];

/// `envoy.config.accesslog.v3.NotHealthCheckFilter`: no fields, read by `filter`.
#[rustfmt::skip]
pub const NOT_HEALTH_CHECK_FILTER: Table = &[];

/// `envoy.config.accesslog.v3.{And,Or}Filter`, read by `nested`.
#[rustfmt::skip]
pub const NESTED_FILTER: Table = &[
    ("filters", Map),
];

/// `envoy.config.accesslog.v3.{StatusCode,Duration}Filter`, read by `comparison`.
#[rustfmt::skip]
pub const COMPARISON_FILTER: Table = &[
    ("comparison", Map),
];

/// `envoy.config.accesslog.v3.ComparisonFilter`, read by `comparison`.
#[rustfmt::skip]
pub const COMPARISON: Table = &[
    ("op", Map),
    ("value", Map),
];

/// `envoy.config.core.v3.RuntimeUInt32`, read by `comparison`.
#[rustfmt::skip]
pub const RUNTIME_UINT32: Table = &[
    ("default_value", Map),
    ("runtime_key", Map),
];

/// `envoy.config.accesslog.v3.ResponseFlagFilter`, read by `response_flags`.
#[rustfmt::skip]
pub const RESPONSE_FLAG_FILTER: Table = &[
    ("flags", Map),
];

/// `envoy.config.accesslog.v3.RuntimeFilter`, read by `runtime_filter`.
#[rustfmt::skip]
pub const RUNTIME_FILTER: Table = &[
    ("percent_sampled", Map),
    ("runtime_key", Map),
    ("use_independent_randomness", Map),
];

/// `envoy.type.v3.FractionalPercent`, read by `runtime_filter`.
#[rustfmt::skip]
pub const FRACTIONAL_PERCENT: Table = &[
    ("denominator", Map),
    ("numerator", Map),
];
