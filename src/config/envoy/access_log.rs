//! Envoy access logs → the listener's `access_log`: the file logger (v2
//! `envoy.file_access_log`, v3 `envoy.access_loggers.file`), the stdout and
//! stderr loggers (`/dev/stdout`, `/dev/stderr`), their text or JSON format
//! (v2/v3 `format`, `json_format`, `typed_json_format`, v3 `log_format`), and
//! the filters ringway evaluates (status code, duration, not-health-check,
//! response flags, static runtime sampling, and/or). Anything else is refused
//! with its path; a format's operators are checked when the model is built,
//! at the format's line.

use serde_yaml::Mapping;

use super::{
    common::{extension, named_path},
    rules::access_log as rules,
    walk::{Ctx, Node, Origins},
};
use crate::{
    access_log::{Compare, ResponseFlags},
    config::{
        raw::{RawAccessLog, RawCompare, RawListener, RawLogFilter},
        units::ConfigDuration,
        ConfigError,
    },
};

const FILE_NAMES: &[&str] = &["envoy.file_access_log", "envoy.access_loggers.file"];
const FILE_TYPES: &[&str] = &[
    "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
    "type.googleapis.com/envoy.config.accesslog.v2.FileAccessLog",
];
/// The stream loggers, one per line: name, `@type`, the path ringway writes.
const STREAMS: &[(&str, &str, &str)] = &[
    (
        "envoy.access_loggers.stdout",
        "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
        "/dev/stdout",
    ),
    (
        "envoy.access_loggers.stderr",
        "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog",
        "/dev/stderr",
    ),
];

/// A log's format as written: text or a JSON object, with where it is.
pub enum LogFormat<'a> {
    Text(String, Node<'a>),
    Json(Mapping, Node<'a>),
}

impl<'a> LogFormat<'a> {
    fn node(&self) -> &Node<'a> {
        match self {
            LogFormat::Text(_, n) | LogFormat::Json(_, n) => n,
        }
    }
}

/// One `access_log` entry ringway can write.
pub struct EnvoyLog<'a> {
    pub path: String,
    /// Where the path came from (the logger's name for stdout/stderr).
    pub path_node: Node<'a>,
    pub format: Option<LogFormat<'a>>,
    pub filter: Option<(RawLogFilter, Node<'a>)>,
}

impl EnvoyLog<'_> {
    /// Only a format's presence matters to the admin log, which takes none.
    pub fn format_path(&self) -> Option<&str> {
        self.format.as_ref().map(|f| f.node().path.as_str())
    }
}

/// Read one `access_log` entry.
pub fn entry<'a>(cx: &mut Ctx, node: &Node<'a>) -> Result<EnvoyLog<'a>, ConfigError> {
    let f = cx.fields(node, rules::ACCESS_LOG)?;
    let (name, body, type_url) = extension(cx, node, &f)?;
    let is = |names: &[&str], types: &[&str]| match &type_url {
        Some(t) => types.contains(&t.as_str()),
        None => names.contains(&name.as_str()),
    };
    let stream = STREAMS.iter().find(|(n, t, _)| is(&[n], &[t])).map(|s| s.2);
    let mut log = if let Some(path) = stream {
        stream_log(cx, &body, path, named_path(node, &f))?
    } else if is(FILE_NAMES, FILE_TYPES) {
        file_log(cx, &body)?
    } else {
        let what = type_url.unwrap_or(name);
        return Err(cx.unsupported(
            &named_path(node, &f),
            format!("access logger `{what}` is not implemented; ringway writes the file, stdout and stderr loggers"),
        ));
    };
    if let Some(fl) = f.get("filter") {
        log.filter = Some((filter(cx, &fl, 0)?, fl));
    }
    Ok(log)
}

fn stream_log<'a>(
    cx: &mut Ctx,
    body: &Node<'a>,
    path: &str,
    at: String,
) -> Result<EnvoyLog<'a>, ConfigError> {
    let b = cx.fields(body, rules::STREAM_ACCESS_LOG)?;
    let format = match b.get("log_format") {
        Some(lf) => log_format(cx, &lf)?,
        None => None,
    };
    Ok(EnvoyLog {
        path: path.to_string(),
        path_node: Node {
            v: body.v,
            path: at,
        },
        format,
        filter: None,
    })
}

fn file_log<'a>(cx: &mut Ctx, body: &Node<'a>) -> Result<EnvoyLog<'a>, ConfigError> {
    let b = cx.fields(body, rules::FILE_ACCESS_LOG)?;
    let Some(p) = b.get("path") else {
        return Err(cx.invalid(&body.path, "a file access log needs a `path`"));
    };
    let path = cx.string(&p)?;
    let mut format: Option<LogFormat> = None;
    for key in ["format", "json_format", "typed_json_format", "log_format"] {
        let Some(n) = b.get(key) else { continue };
        if let Some(first) = &format {
            return Err(cx.invalid(
                &n.path,
                format!(
                    "give one format, not two (the first is at {})",
                    first.node().path
                ),
            ));
        }
        if key == "json_format" {
            // The legacy field; `typed_json_format` and `log_format.json_format` type values.
            cx.warn(
                &n.path,
                "Envoy prints this legacy field's values all as strings; ringway types them as typed_json_format does (numbers for RESPONSE_CODE, BYTES_*, durations; null when missing)",
            );
        }
        format = match key {
            "format" => Some(LogFormat::Text(cx.string(&n)?, n)),
            "log_format" => log_format(cx, &n)?,
            _ => Some(LogFormat::Json(cx.mapping(&n)?.clone(), n)),
        };
    }
    Ok(EnvoyLog {
        path,
        path_node: p,
        format,
        filter: None,
    })
}

/// v3 `SubstitutionFormatString`.
fn log_format<'a>(cx: &mut Ctx, node: &Node<'a>) -> Result<Option<LogFormat<'a>>, ConfigError> {
    let f = cx.fields(node, rules::SUBSTITUTION_FORMAT)?;
    let given: Vec<Node> = ["text_format", "text_format_source", "json_format"]
        .iter()
        .filter_map(|k| f.get(k))
        .collect();
    if given.len() > 1 {
        return Err(cx.invalid(
            &given[1].path,
            format!(
                "give one format, not two (the first is at {})",
                given[0].path
            ),
        ));
    }
    let Some(n) = given.into_iter().next() else {
        return Ok(None);
    };
    if n.path.ends_with("json_format") {
        return Ok(Some(LogFormat::Json(cx.mapping(&n)?.clone(), n)));
    }
    if n.path.ends_with("text_format") {
        return Ok(Some(LogFormat::Text(cx.string(&n)?, n)));
    }
    let src = cx.fields(&n, rules::FORMAT_DATA_SOURCE)?;
    match src.get("inline_string") {
        Some(t) => Ok(Some(LogFormat::Text(cx.string(&t)?, t))),
        None => Err(cx.invalid(&n.path, "needs an `inline_string`")),
    }
}

/// Envoy's `AccessLogFilter`: exactly one of its kinds.
fn filter(cx: &mut Ctx, node: &Node, depth: usize) -> Result<RawLogFilter, ConfigError> {
    let f = cx.fields(node, rules::ACCESS_LOG_FILTER)?;
    let mut raw = RawLogFilter::default();
    let mut kinds = 0;
    if let Some(n) = f.get("status_code_filter") {
        let (op, v) = comparison(cx, &n)?;
        let value =
            u16::try_from(v).map_err(|_| cx.invalid(&n.path, "a status is at most 65535"))?;
        raw.status_code = Some(RawCompare { op, value });
        kinds += 1;
    }
    if let Some(n) = f.get("duration_filter") {
        let (op, ms) = comparison(cx, &n)?;
        let value = ConfigDuration(std::time::Duration::from_millis(ms));
        raw.duration = Some(RawCompare { op, value });
        kinds += 1;
    }
    if let Some(n) = f.get("not_health_check_filter") {
        cx.fields(&n, rules::NOT_HEALTH_CHECK_FILTER)?;
        raw.not_health_check = Some(true);
        kinds += 1;
    }
    if let Some(n) = f.get("response_flag_filter") {
        raw.response_flags = Some(response_flags(cx, &n)?);
        kinds += 1;
    }
    if let Some(n) = f.get("runtime_filter") {
        raw.sample_percent = Some(runtime_filter(cx, &n)?);
        kinds += 1;
    }
    for (key, is_and) in [("and_filter", true), ("or_filter", false)] {
        let Some(n) = f.get(key) else { continue };
        let list = nested(cx, &n, depth)?;
        if is_and {
            raw.and = Some(list);
        } else {
            raw.or = Some(list);
        }
        kinds += 1;
    }
    if kinds != 1 {
        return Err(cx.invalid(
            &node.path,
            "an access log filter needs exactly one filter kind",
        ));
    }
    Ok(raw)
}

fn nested(cx: &mut Ctx, node: &Node, depth: usize) -> Result<Vec<RawLogFilter>, ConfigError> {
    let f = cx.fields(node, rules::NESTED_FILTER)?;
    let list = match f.get("filters") {
        Some(l) => cx.seq(&l)?,
        None => Vec::new(),
    };
    if list.len() < 2 || depth >= 8 {
        return Err(cx.invalid(
            &node.path,
            "needs at least two `filters` (nested at most 8 deep)",
        ));
    }
    list.iter().map(|n| filter(cx, n, depth + 1)).collect()
}

/// `{ comparison: { op, value: { default_value, runtime_key } } }` → (op, value).
fn comparison(cx: &mut Ctx, node: &Node) -> Result<(String, u64), ConfigError> {
    let f = cx.fields(node, rules::COMPARISON_FILTER)?;
    let Some(c) = f.get("comparison") else {
        return Err(cx.invalid(&node.path, "needs a `comparison`"));
    };
    let c = cx.fields(&c, rules::COMPARISON)?;
    let op = match c.get("op") {
        Some(o) => {
            let name = cx.string(&o)?;
            if !Compare::NAMES
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(&name))
            {
                return Err(cx.invalid(&o.path, "give EQ, GE or LE"));
            }
            name.to_ascii_lowercase()
        }
        None => "eq".into(), // the enum's zero value
    };
    let Some(v) = c.get("value") else {
        return Err(cx.invalid(&c.node.path, "needs a `value`"));
    };
    let v = cx.fields(&v, rules::RUNTIME_UINT32)?;
    if let Some(k) = v.get("runtime_key") {
        cx.warn(
            &k.path,
            "ringway has no runtime: the filter uses `default_value`",
        );
    }
    let value = match v.get("default_value") {
        Some(d) => cx.uint(&d, u64::from(u32::MAX))?,
        None => 0,
    };
    Ok((op, value))
}

fn response_flags(cx: &mut Ctx, node: &Node) -> Result<Vec<String>, ConfigError> {
    let f = cx.fields(node, rules::RESPONSE_FLAG_FILTER)?;
    let mut codes = Vec::new();
    if let Some(list) = f.get("flags") {
        for n in cx.seq(&list)? {
            let code = cx.string(&n)?;
            if ResponseFlags::from_code(&code).is_none() {
                let known: Vec<&str> = ResponseFlags::codes().collect();
                cx.refusals.push(cx.unsupported(
                    &n.path,
                    format!("response flag `{code}` is not implemented (ringway never raises it); it raises {}", known.join(", ")),
                ));
                continue;
            }
            codes.push(code);
        }
    }
    Ok(codes)
}

/// `runtime_filter`: its `percent_sampled` (0 % when absent, as in Envoy), as a percentage.
fn runtime_filter(cx: &mut Ctx, node: &Node) -> Result<f64, ConfigError> {
    let f = cx.fields(node, rules::RUNTIME_FILTER)?;
    let independent = match f.get("use_independent_randomness") {
        Some(n) => cx.boolean(&n)?,
        None => false,
    };
    if !independent {
        // Envoy then samples by the x-request-id, so proxies sharing a request id
        // agree; the share of requests logged is the same either way.
        cx.warn(
            &node.path,
            "ringway samples each request at random (as with use_independent_randomness: true), not by its x-request-id",
        );
    }
    if let Some(k) = f.get("runtime_key") {
        cx.warn(
            &k.path,
            "ringway has no runtime: the filter samples `percent_sampled`",
        );
    }
    let Some(p) = f.get("percent_sampled") else {
        return Ok(0.0);
    };
    let p = cx.fields(&p, rules::FRACTIONAL_PERCENT)?;
    let numerator = match p.get("numerator") {
        Some(n) => cx.uint(&n, u64::from(u32::MAX))?,
        None => 0,
    };
    let denominator = match p.get("denominator") {
        None => 100,
        Some(d) => match (d.v.as_str(), d.v.as_u64()) {
            (Some("HUNDRED"), _) | (_, Some(0)) => 100,
            (Some("TEN_THOUSAND"), _) | (_, Some(1)) => 10_000,
            (Some("MILLION"), _) | (_, Some(2)) => 1_000_000,
            _ => return Err(cx.invalid(&d.path, "give HUNDRED, TEN_THOUSAND or MILLION")),
        },
    };
    Ok((numerator.min(denominator) as f64) * 100.0 / denominator as f64)
}

/// The connection manager's request access logs → the listener's `access_log`.
/// A log to `/dev/null` is dropped with a warning; ringway writes one log per
/// listener.
pub fn request_logs(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    rl: &mut RawListener,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let mut first: Option<String> = None;
    for log in cx.seq(node)? {
        let el = entry(cx, &log)?;
        if el.path == "/dev/null" {
            cx.warn(&log.path, "ignored: an access log to /dev/null");
            continue;
        }
        if let Some(first) = &first {
            let line = cx.line(first).unwrap_or(0);
            return Err(cx.unsupported(
                &log.path,
                format!("several access logs per listener are not implemented; the first is {first} (line {line})"),
            ));
        }
        first = Some(log.path.clone());
        let at = format!("{native}.access_log");
        origins.push((at.clone(), log.path.clone()));
        origins.push((format!("{at}.path"), el.path_node.path.clone()));
        let mut raw = RawAccessLog {
            path: el.path,
            ..RawAccessLog::default()
        };
        match el.format {
            Some(LogFormat::Text(text, n)) => {
                origins.push((format!("{at}.format"), n.path));
                raw.format = Some(text);
            }
            Some(LogFormat::Json(map, n)) => {
                origins.push((format!("{at}.json_format"), n.path));
                raw.json_format = Some(map);
            }
            None => {}
        }
        if let Some((filter, n)) = el.filter {
            origins.push((format!("{at}.filter"), n.path));
            raw.filter = Some(filter);
        }
        rl.access_log = Some(raw);
    }
    Ok(())
}

/// A listener's own `access_log` logs connections, not requests; ringway writes
/// none, so only `/dev/null` passes.
pub fn listener_logs(cx: &mut Ctx, node: &Node) -> Result<(), ConfigError> {
    for log in cx.seq(node)? {
        let el = entry(cx, &log)?;
        if el.path == "/dev/null" {
            cx.warn(&log.path, "ignored: an access log to /dev/null");
        } else {
            return Err(cx.unsupported(
                &log.path,
                format!("listener (connection) access logs are not implemented (this one writes {}); the connection manager's access_log maps", el.path),
            ));
        }
    }
    Ok(())
}
