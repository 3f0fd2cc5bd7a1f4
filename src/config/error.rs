//! Config errors. Every error names the YAML path of the field at fault and,
//! where the parser knows it, the line.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The YAML did not deserialize: syntax, an unknown field, a wrong type or a bad value.
    #[error("{field}{}: {reason}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Parse {
        field: String,
        line: Option<usize>,
        reason: String,
    },
    /// The YAML deserialized but breaks a rule that spans fields.
    #[error("{field}{}: {reason}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Invalid {
        field: String,
        line: Option<usize>,
        reason: String,
    },
    /// An Envoy feature ringway does not implement and cannot ignore safely.
    #[error("{field}{}: unsupported: {reason}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Unsupported {
        field: String,
        line: Option<usize>,
        reason: String,
    },
}

impl ConfigError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            line: None,
            reason: reason.into(),
        }
    }

    /// The same error with control characters in its field and reason escaped
    /// (`\n` for a line break): keys come from the file and may hold any.
    pub fn one_line(self) -> Self {
        let escape = |s: String| {
            if s.chars().any(char::is_control) {
                s.chars()
                    .map(|c| {
                        if c.is_control() {
                            c.escape_default().to_string()
                        } else {
                            c.to_string()
                        }
                    })
                    .collect()
            } else {
                s
            }
        };
        match self {
            ConfigError::Parse {
                field,
                line,
                reason,
            } => ConfigError::Parse {
                field: escape(field),
                line,
                reason: escape(reason),
            },
            ConfigError::Invalid {
                field,
                line,
                reason,
            } => ConfigError::Invalid {
                field: escape(field),
                line,
                reason: escape(reason),
            },
            ConfigError::Unsupported {
                field,
                line,
                reason,
            } => ConfigError::Unsupported {
                field: escape(field),
                line,
                reason: escape(reason),
            },
            read @ ConfigError::Read { .. } => read,
        }
    }

    /// Attach the line of the field this error names, found in the YAML `source`.
    pub fn with_source(self, source: &str) -> Self {
        self.located_in(source, str::to_string)
    }

    /// Rename the field this error names with `path` (a path of the translated
    /// config to the one of the file the user wrote), then attach its line there.
    pub fn located_in(self, source: &str, path: impl Fn(&str) -> String) -> Self {
        match self {
            ConfigError::Invalid {
                field,
                line: None,
                reason,
            } => {
                let field = path(&field);
                ConfigError::Invalid {
                    line: locate(source, &field),
                    field,
                    reason,
                }
            }
            ConfigError::Unsupported {
                field,
                line: None,
                reason,
            } => {
                let field = path(&field);
                ConfigError::Unsupported {
                    line: locate(source, &field),
                    field,
                    reason,
                }
            }
            other => other,
        }
    }
}

/// The 1-based line of a field path such as `listeners[0].virtual_hosts[1].domains`
/// in a block-style YAML text. Rules that span fields are checked after serde has
/// forgotten positions, so the line is recovered by walking the text's indentation.
/// Where the walk cannot go deeper (flow style, `{ a: b }`), the deepest line found
/// is named.
pub fn locate(source: &str, path: &str) -> Option<usize> {
    // Each line as (indent, is_list_item, content), with `- ` markers turned into indent.
    let lines: Vec<(usize, bool, &str)> = source
        .lines()
        .map(|l| {
            let text = l.split(" #").next().unwrap_or(l);
            // A whole-line comment is blank for the walk.
            let text = if text.trim_start().starts_with('#') {
                ""
            } else {
                text
            };
            let mut indent = text.len() - text.trim_start().len();
            let mut rest = text.trim_start();
            let mut item = false;
            while let Some(r) = rest
                .strip_prefix("- ")
                .or_else(|| (rest == "-").then_some(""))
            {
                item = true;
                indent += 2 + (r.len() - r.trim_start().len());
                rest = r.trim_start();
            }
            (indent, item, rest)
        })
        .collect();
    let mut from = 0usize; // the next segment is searched from this line
    let mut floor = 0usize; // ...among lines indented at least this much
    let mut in_item = false; // the walk is inside a list item starting at `from`
    let mut found = None;
    // A key with dots in it (Envoy's extension names, such as
    // `envoy.extensions.upstreams.http.v3.HttpProtocolOptions`) spans several
    // segments: an unmatched segment is joined to the next.
    let mut joined = String::new();
    for part in path.split('.') {
        let seg_owned;
        let seg = if joined.is_empty() {
            part
        } else {
            seg_owned = format!("{joined}.{part}");
            seg_owned.as_str()
        };
        let (key, indices) = match seg.find('[') {
            Some(b) => (&seg[..b], &seg[b..]),
            None => (seg, ""),
        };
        if !key.is_empty() {
            // Under a key, children sit at the indent of its first child line, which
            // may be any deeper indent; inside a list item, at the item's own.
            let level = if in_item {
                floor
            } else {
                lines
                    .iter()
                    .skip(from)
                    .find(|l| !l.2.is_empty())
                    .map_or(floor, |l| l.0)
            };
            let mut hit = None;
            for (i, &(ind, item, content)) in lines.iter().enumerate().skip(from) {
                if content.is_empty() {
                    continue;
                }
                // Leaving the enclosing block, or reaching the next sibling item, ends the search.
                if ind < floor || (in_item && i > from && item && ind == floor) {
                    break;
                }
                let k = content
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches('"');
                if ind == level && k == key && content.contains(':') {
                    hit = Some(i);
                    break;
                }
            }
            let i = match hit {
                Some(i) => i,
                None if indices.is_empty() => {
                    joined = key.to_string();
                    continue;
                }
                None => return found,
            };
            joined.clear();
            found = Some(i + 1);
            from = i + 1;
            floor = lines[i].0 + 1;
            in_item = false;
        }
        for idx in indices.split(['[', ']']).filter(|s| !s.is_empty()) {
            let want: usize = idx.parse().ok()?;
            let mut item_indent = None;
            let mut count = 0;
            let mut hit = None;
            for (i, &(ind, item, content)) in lines.iter().enumerate().skip(from) {
                if content.is_empty() && !item {
                    continue;
                }
                // A list may sit at its key's own indent (`key:\n- a`), but a
                // sibling key there means the list was flow style, `key: [a]`.
                if ind + 2 < floor + 1
                    || (!item && ind < floor)
                    || item_indent.is_some_and(|d| ind < d)
                {
                    break;
                }
                if item && item_indent.is_none() {
                    item_indent = Some(ind);
                }
                if item && Some(ind) == item_indent {
                    if count == want {
                        hit = Some(i);
                        break;
                    }
                    count += 1;
                }
            }
            let i = match hit {
                Some(i) => i,
                None => return found,
            };
            found = Some(i + 1);
            from = i;
            floor = lines[i].0;
            in_item = true;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::locate;

    const YAML: &str = "workers: 2
listeners:
  - name: a
    address: 0.0.0.0:80
    virtual_hosts:
      - name: v
        domains: [\"*\"]
        routes:
          - match: { prefix: /a }
            cluster: one
          - match: { prefix: /b }
            cluster: two
clusters:
- name: one
  hosts: [\"1.2.3.4:80\"]
";

    #[test]
    fn finds_nested_fields() {
        assert_eq!(locate(YAML, "workers"), Some(1));
        assert_eq!(locate(YAML, "listeners[0].address"), Some(4));
        assert_eq!(
            locate(YAML, "listeners[0].virtual_hosts[0].domains"),
            Some(7)
        );
        assert_eq!(
            locate(YAML, "listeners[0].virtual_hosts[0].routes[1].cluster"),
            Some(12)
        );
        assert_eq!(
            locate(YAML, "listeners[0].virtual_hosts[0].routes[0]"),
            Some(9)
        );
        assert_eq!(locate(YAML, "clusters[0].hosts"), Some(15));
        // Flow style: the deepest block line found is named.
        assert_eq!(
            locate(YAML, "listeners[0].virtual_hosts[0].routes[1].match.prefix"),
            Some(11)
        );
        assert_eq!(
            locate(YAML, "listeners[0].virtual_hosts[0].domains[0]"),
            Some(7)
        );
    }

    #[test]
    fn finds_keys_nested_under_keys_at_any_indent() {
        let yaml = "# a comment at column 0
a:
    b:   # four spaces
        c: 1
    d:
      - e: 2
# another
      - e: 3
        f: 4
";
        assert_eq!(locate(yaml, "a.b.c"), Some(4));
        assert_eq!(locate(yaml, "a.d[1].f"), Some(9));
        assert_eq!(locate(yaml, "a.d[1].e"), Some(8));
    }
}
