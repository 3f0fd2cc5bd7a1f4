//! Header mutations a route asks for (Envoy's `request_headers_to_add` /
//! `_to_remove` and the response pair), compiled at config load and applied
//! while a head is written for the next hop.
//!
//! Semantics are Envoy's `HeaderParser::evaluateHeaders`, level after level
//! (route, then virtual host, then the route config, so the least specific
//! level has the last word): within a level every listed name is removed
//! first, then each entry is added by its `AppendAction`. An entry whose value
//! renders empty is skipped (no add, no overwrite) unless `keep_empty_value`.
//!
//! Invariant: nothing is built per request. The head is written once: a
//! header that arrived is copied unless a later operation clears its name,
//! and each added value is rendered straight into the output when it survives
//! the operations after it (`HeaderOps::fires`, `survives`) — a few compares
//! per operation, no header map. A chain with no operations costs one
//! `is_empty` check.

use std::net::SocketAddr;

use super::{
    headers::{HeaderIndex, HeaderKind},
    request::RequestHead,
    Version,
};

/// Headers no mutation may name: `host` (Envoy refuses it too; see
/// `host_rewrite_literal`), and those that frame the message or belong to one
/// hop, which ringway must own for the next hop to read the body right.
pub const PROTECTED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
    "trailer",
    "expect",
    "http2-settings",
];

/// Whether a header of this kind is one of `PROTECTED`.
pub fn protected(kind: HeaderKind) -> bool {
    !matches!(
        kind,
        HeaderKind::Other
            | HeaderKind::XForwardedFor
            | HeaderKind::XForwardedProto
            | HeaderKind::XRequestId
    )
}

/// Envoy's `HeaderValueOption.HeaderAppendAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendAction {
    /// Add another value (or the first).
    AppendIfExistsOrAdd,
    /// Add only when the name is absent.
    AddIfAbsent,
    /// Replace every value, or add.
    OverwriteIfExistsOrAdd,
    /// Replace every value; nothing when absent.
    OverwriteIfExists,
}

/// Which head a mutation edits: operators that need the request's headers
/// exist only while the request head is being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

/// A `%OPERATOR%` a header value may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// `ip:port` of the client.
    DownstreamRemoteAddress,
    DownstreamRemoteAddressWithoutPort,
    /// `ip:port` of the upstream host that answered (responses only: Envoy
    /// renders request headers before a host is chosen).
    UpstreamRemoteAddress,
    /// When the request started, `2024-05-01T12:34:56.789Z`.
    StartTime,
    /// `HTTP/1.1` or `HTTP/1.0`.
    Protocol,
    /// A request header's first value (lower-case name), or `:authority`,
    /// `:path`, `:method` (requests only).
    Req(String),
}

/// An operator's word (between the `%`s), the value, and the heads it can
/// be filled for.
struct OperatorRule {
    word: &'static str,
    operator: Operator,
    heads: &'static [Direction],
}

const BOTH: &[Direction] = &[Direction::Request, Direction::Response];

const OPERATORS: &[OperatorRule] = &[
    OperatorRule {
        word: "DOWNSTREAM_REMOTE_ADDRESS",
        operator: Operator::DownstreamRemoteAddress,
        heads: BOTH,
    },
    OperatorRule {
        word: "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT",
        operator: Operator::DownstreamRemoteAddressWithoutPort,
        heads: BOTH,
    },
    OperatorRule {
        word: "UPSTREAM_REMOTE_ADDRESS",
        operator: Operator::UpstreamRemoteAddress,
        heads: &[Direction::Response],
    },
    OperatorRule {
        word: "START_TIME",
        operator: Operator::StartTime,
        heads: BOTH,
    },
    OperatorRule {
        word: "PROTOCOL",
        operator: Operator::Protocol,
        heads: BOTH,
    },
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Op(Operator),
}

/// A header value with `%OPERATOR%`s, compiled once; `%%` is a literal `%`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

impl Template {
    pub fn compile(text: &str, direction: Direction) -> Result<Template, String> {
        if let Some(b) = text.bytes().find(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(format!(
                "a header value cannot contain the control byte {b:#04x}"
            ));
        }
        let mut parts = Vec::new();
        let mut rest = text;
        let mut literal = String::new();
        while let Some(at) = rest.find('%') {
            literal.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            if let Some(after) = rest.strip_prefix('%') {
                literal.push('%');
                rest = after;
                continue;
            }
            let end = rest
                .find('%')
                .ok_or_else(|| format!("`%{rest}` has no closing `%`"))?;
            let op = operator(&rest[..end], direction)?;
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(Part::Op(op));
            rest = &rest[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template {
            text: text.to_string(),
            parts,
        })
    }

    /// The value as configured.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn uses_start_time(&self) -> bool {
        self.parts.contains(&Part::Op(Operator::StartTime))
    }

    fn is_empty(&self, cx: &EditContext<'_>) -> bool {
        self.parts.iter().all(|p| match p {
            Part::Literal(s) => s.is_empty(),
            Part::Op(op) => op_is_empty(op, cx),
        })
    }

    fn render(&self, cx: &EditContext<'_>, out: &mut Vec<u8>) {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.extend_from_slice(s.as_bytes()),
                Part::Op(op) => render_op(op, cx, out),
            }
        }
    }
}

fn operator(word: &str, direction: Direction) -> Result<Operator, String> {
    if let Some(name) = word.strip_prefix("REQ(").and_then(|w| w.strip_suffix(')')) {
        if direction == Direction::Response {
            return Err(format!(
                "%{word}% is not available in response headers (the request head is gone by then)"
            ));
        }
        if name.is_empty() || name.contains(['?', ')', '(']) {
            return Err(format!(
                "%{word}% must name one header (no `?` fallbacks or `:N` lengths)"
            ));
        }
        return Ok(Operator::Req(name.to_ascii_lowercase()));
    }
    match OPERATORS.iter().find(|rule| rule.word == word) {
        Some(rule) if rule.heads.contains(&direction) => Ok(rule.operator.clone()),
        Some(_) => Err(format!(
            "%{word}% is not known while request headers are written (Envoy picks the host after them); use it in response_headers_to_add"
        )),
        None => {
            let mut known: Vec<&str> = OPERATORS.iter().map(|rule| rule.word).collect();
            known.push("REQ(header)");
            Err(format!(
                "%{word}% is not an operator ringway fills in header values; it knows %{}%",
                known.join("%, %")
            ))
        }
    }
}

/// What a request's values are rendered from.
pub struct EditContext<'a> {
    pub client: SocketAddr,
    /// The host that answered (responses).
    pub upstream: Option<SocketAddr>,
    /// Rendered `%START_TIME%`, when a value uses it.
    pub start_time: &'a [u8],
    pub version: Version,
    /// The request head being written (requests only).
    pub request: Option<RequestRef<'a>>,
}

#[derive(Clone, Copy)]
pub struct RequestRef<'a> {
    pub buf: &'a [u8],
    pub head: &'a RequestHead,
    pub headers: &'a [HeaderIndex],
}

impl<'a> RequestRef<'a> {
    fn value(self, name: &str) -> Option<&'a [u8]> {
        let head = self.head;
        match name {
            ":authority" => head.host_value(self.buf),
            ":path" => Some(head.slice(self.buf, head.target)),
            ":method" => Some(head.slice(self.buf, head.method_span)),
            _ => self
                .headers
                .iter()
                .find(|h| h.name(self.buf).eq_ignore_ascii_case(name.as_bytes()))
                .map(|h| h.value(self.buf)),
        }
    }
}

fn op_is_empty(op: &Operator, cx: &EditContext<'_>) -> bool {
    match op {
        Operator::DownstreamRemoteAddress
        | Operator::DownstreamRemoteAddressWithoutPort
        | Operator::Protocol => false,
        Operator::UpstreamRemoteAddress => cx.upstream.is_none(),
        Operator::StartTime => cx.start_time.is_empty(),
        Operator::Req(name) => cx
            .request
            .and_then(|r| r.value(name))
            .is_none_or(|v| v.is_empty()),
    }
}

fn render_op(op: &Operator, cx: &EditContext<'_>, out: &mut Vec<u8>) {
    match op {
        Operator::DownstreamRemoteAddress => super::encode::write_addr(out, cx.client),
        Operator::DownstreamRemoteAddressWithoutPort => {
            super::encode::write_ip(out, cx.client.ip())
        }
        Operator::UpstreamRemoteAddress => {
            if let Some(up) = cx.upstream {
                super::encode::write_addr(out, up);
            }
        }
        Operator::StartTime => out.extend_from_slice(cx.start_time),
        Operator::Protocol => out.extend_from_slice(match cx.version {
            Version::Http10 => b"HTTP/1.0",
            Version::Http11 => b"HTTP/1.1",
            Version::Http2 => b"HTTP/2",
        }),
        Operator::Req(name) => {
            if let Some(v) = cx.request.and_then(|r| r.value(name)) {
                out.extend_from_slice(v);
            }
        }
    }
}

/// One header a level adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderAdd {
    /// Lower case, as Envoy keeps header names.
    pub name: String,
    pub value: Template,
    pub action: AppendAction,
    /// Add even when the value renders empty.
    pub keep_empty_value: bool,
}

/// One level's mutations (a route, a virtual host, or the listener's route
/// config), as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMutations {
    pub request_add: Vec<HeaderAdd>,
    pub request_remove: Vec<String>,
    pub response_add: Vec<HeaderAdd>,
    pub response_remove: Vec<String>,
}

impl HeaderMutations {
    pub fn is_empty(&self) -> bool {
        self.request_add.is_empty()
            && self.request_remove.is_empty()
            && self.response_add.is_empty()
            && self.response_remove.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Remove(String),
    Add(HeaderAdd),
}

impl Op {
    fn name(&self) -> &str {
        match self {
            Op::Remove(n) => n,
            Op::Add(a) => &a.name,
        }
    }
}

/// Every level's operations on one head, flattened in the order Envoy runs them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderOps {
    ops: Vec<Op>,
    start_time: bool,
}

impl HeaderOps {
    /// `levels` from most to least specific (route, virtual host, route config).
    pub fn chain(levels: &[&HeaderMutations], direction: Direction) -> HeaderOps {
        let mut ops = Vec::new();
        for level in levels {
            let (add, remove) = match direction {
                Direction::Request => (&level.request_add, &level.request_remove),
                Direction::Response => (&level.response_add, &level.response_remove),
            };
            ops.extend(remove.iter().map(|n| Op::Remove(n.clone())));
            ops.extend(add.iter().map(|a| Op::Add(a.clone())));
        }
        let start_time = ops
            .iter()
            .any(|op| matches!(op, Op::Add(a) if a.value.uses_start_time()));
        HeaderOps { ops, start_time }
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Whether a value needs `%START_TIME%` rendered into the context.
    pub fn uses_start_time(&self) -> bool {
        self.start_time
    }

    /// Whether op `i` changes anything: an add whose value renders empty does not.
    fn acts(&self, i: usize, cx: &EditContext<'_>) -> bool {
        match &self.ops[i] {
            Op::Remove(_) => true,
            Op::Add(a) => a.keep_empty_value || !a.value.is_empty(cx),
        }
    }

    /// Whether op `i` clears every value its name has at that point.
    fn clears(&self, i: usize, cx: &EditContext<'_>) -> bool {
        match &self.ops[i] {
            Op::Remove(_) => true,
            Op::Add(a) => {
                matches!(
                    a.action,
                    AppendAction::OverwriteIfExistsOrAdd | AppendAction::OverwriteIfExists
                ) && self.acts(i, cx)
            }
        }
    }

    /// A header of this name that arrived (or that ringway adds itself) is
    /// dropped: some operation clears the name. (An overwrite of a present
    /// name always fires.)
    pub fn drops(&self, name: &[u8], cx: &EditContext<'_>) -> bool {
        !self.ops.is_empty()
            && (0..self.ops.len()).any(|i| {
                self.ops[i].name().as_bytes().eq_ignore_ascii_case(name) && self.clears(i, cx)
            })
    }

    /// Whether op `i`'s name has a value just before it runs.
    fn present_before(
        &self,
        i: usize,
        cx: &EditContext<'_>,
        arrived: &dyn Fn(&str) -> bool,
    ) -> bool {
        let name = self.ops[i].name();
        for j in (0..i).rev() {
            let op = &self.ops[j];
            if op.name() != name || !self.acts(j, cx) {
                continue;
            }
            match op {
                Op::Remove(_) => return false,
                Op::Add(a) => match a.action {
                    // Present after it either way (added, or already there).
                    AppendAction::AppendIfExistsOrAdd
                    | AppendAction::AddIfAbsent
                    | AppendAction::OverwriteIfExistsOrAdd => return true,
                    // Leaves presence as it found it.
                    AppendAction::OverwriteIfExists => {}
                },
            }
        }
        arrived(name)
    }

    /// Whether add `i` puts a value in.
    fn fires(&self, i: usize, cx: &EditContext<'_>, arrived: &dyn Fn(&str) -> bool) -> bool {
        let Op::Add(a) = &self.ops[i] else {
            return false;
        };
        self.acts(i, cx)
            && match a.action {
                AppendAction::AppendIfExistsOrAdd | AppendAction::OverwriteIfExistsOrAdd => true,
                AppendAction::AddIfAbsent => !self.present_before(i, cx, arrived),
                AppendAction::OverwriteIfExists => self.present_before(i, cx, arrived),
            }
    }

    /// Whether the value add `i` put in is still there at the end.
    fn survives(&self, i: usize, cx: &EditContext<'_>) -> bool {
        let name = self.ops[i].name();
        (i + 1..self.ops.len()).all(|j| self.ops[j].name() != name || !self.clears(j, cx))
    }

    /// Write every added header that survives, as `name: value\r\n` lines.
    /// `arrived(name)`: the head carries that name before any operation.
    pub fn write_added(
        &self,
        cx: &EditContext<'_>,
        arrived: &dyn Fn(&str) -> bool,
        out: &mut Vec<u8>,
    ) {
        for (i, op) in self.ops.iter().enumerate() {
            let Op::Add(a) = op else { continue };
            if self.fires(i, cx, arrived) && self.survives(i, cx) {
                out.extend_from_slice(a.name.as_bytes());
                out.extend_from_slice(b": ");
                a.value.render(cx, out);
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// Whether the final head has a value for `name` the operations added.
    pub fn adds(&self, name: &str, cx: &EditContext<'_>, arrived: &dyn Fn(&str) -> bool) -> bool {
        (0..self.ops.len()).any(|i| {
            self.ops[i].name() == name && self.fires(i, cx, arrived) && self.survives(i, cx)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> EditContext<'static> {
        EditContext {
            client: "10.0.0.7:5555".parse().unwrap(),
            upstream: Some("127.0.0.2:80".parse().unwrap()),
            start_time: b"2024-05-01T12:34:56.789Z",
            version: Version::Http11,
            request: None,
        }
    }

    fn add(name: &str, value: &str, action: AppendAction) -> HeaderAdd {
        HeaderAdd {
            name: name.into(),
            value: Template::compile(value, Direction::Response).unwrap(),
            action,
            keep_empty_value: false,
        }
    }

    /// The final header lines for `arrived` headers under `levels`.
    fn apply(levels: &[&HeaderMutations], arrived: &[(&str, &str)]) -> Vec<String> {
        let ops = HeaderOps::chain(levels, Direction::Response);
        let cx = cx();
        let mut out = Vec::new();
        for (n, v) in arrived {
            if !ops.drops(n.as_bytes(), &cx) {
                out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
            }
        }
        let present = |name: &str| arrived.iter().any(|(n, _)| *n == name);
        ops.write_added(&cx, &present, &mut out);
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn level(adds: Vec<HeaderAdd>, removes: &[&str]) -> HeaderMutations {
        HeaderMutations {
            response_add: adds,
            response_remove: removes.iter().map(|s| s.to_string()).collect(),
            ..HeaderMutations::default()
        }
    }

    use AppendAction::*;

    #[test]
    fn each_append_action_as_envoy_defines_it() {
        let arrived = [("x-a", "old")];
        let one = |action| apply(&[&level(vec![add("x-a", "new", action)], &[])], &arrived);
        assert_eq!(one(AppendIfExistsOrAdd), ["x-a: old", "x-a: new"]);
        assert_eq!(one(AddIfAbsent), ["x-a: old"]);
        assert_eq!(one(OverwriteIfExistsOrAdd), ["x-a: new"]);
        assert_eq!(one(OverwriteIfExists), ["x-a: new"]);
        let absent = |action| apply(&[&level(vec![add("x-b", "new", action)], &[])], &arrived);
        assert_eq!(absent(AddIfAbsent), ["x-a: old", "x-b: new"]);
        assert_eq!(absent(OverwriteIfExists), ["x-a: old"]);
    }

    #[test]
    fn removal_comes_first_in_a_level_and_less_specific_levels_win() {
        let route = level(vec![add("x-a", "route", OverwriteIfExistsOrAdd)], &[]);
        let global = level(vec![add("x-a", "global", OverwriteIfExistsOrAdd)], &[]);
        assert_eq!(apply(&[&route, &global], &[]), ["x-a: global"]);
        // Remove-then-add within one level keeps the add.
        let both = level(vec![add("x-a", "mine", AppendIfExistsOrAdd)], &["x-a"]);
        assert_eq!(apply(&[&both], &[("x-a", "old")]), ["x-a: mine"]);
        // A later level's removal takes an earlier level's add too.
        let vhost = level(vec![], &["x-a"]);
        assert_eq!(
            apply(&[&route, &vhost], &[("x-a", "old")]),
            Vec::<String>::new()
        );
        // ADD_IF_ABSENT sees what an earlier level added.
        let later = level(vec![add("x-a", "late", AddIfAbsent)], &[]);
        assert_eq!(apply(&[&route, &later], &[]), ["x-a: route"]);
    }

    #[test]
    fn an_empty_value_adds_nothing_and_overwrites_nothing() {
        let mut empty = add("x-a", "", OverwriteIfExistsOrAdd);
        assert_eq!(
            apply(&[&level(vec![empty.clone()], &[])], &[("x-a", "old")]),
            ["x-a: old"]
        );
        empty.keep_empty_value = true;
        assert_eq!(
            apply(&[&level(vec![empty], &[])], &[("x-a", "old")]),
            ["x-a: "]
        );
    }

    #[test]
    fn operators_render_from_the_context() {
        let lines = apply(
            &[&level(
                vec![add(
                    "x-who",
                    "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% via %UPSTREAM_REMOTE_ADDRESS% %PROTOCOL% 100%% at %START_TIME%",
                    AppendIfExistsOrAdd,
                )],
                &[],
            )],
            &[],
        );
        assert_eq!(
            lines,
            ["x-who: 10.0.0.7 via 127.0.0.2:80 HTTP/1.1 100% at 2024-05-01T12:34:56.789Z"]
        );
    }

    #[test]
    fn operators_ringway_cannot_fill_are_refused_by_name() {
        let e = Template::compile("%UPSTREAM_METADATA([\"a\"])%", Direction::Request).unwrap_err();
        assert!(
            e.contains("UPSTREAM_METADATA") && e.contains("DOWNSTREAM_REMOTE_ADDRESS"),
            "{e}"
        );
        let e = Template::compile("%UPSTREAM_REMOTE_ADDRESS%", Direction::Request).unwrap_err();
        assert!(e.contains("response_headers_to_add"), "{e}");
        let e = Template::compile("%REQ(x-a)%", Direction::Response).unwrap_err();
        assert!(e.contains("response headers"), "{e}");
        assert!(Template::compile("50%", Direction::Request).is_err());
        assert!(Template::compile("a\r\nb", Direction::Request).is_err());
        assert!(Template::compile("%REQ(X-A)%", Direction::Request).is_ok());
    }
}
