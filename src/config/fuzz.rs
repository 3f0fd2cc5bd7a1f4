//! Property tests of the loaders (`fuzz_*`, bounded by `prim::fuzzing`): the
//! shipped and golden configs, native and Envoy, mutated line by line and byte
//! by byte. Whatever the text, `load_str` returns (it never panics), and every
//! error names where it is: a field path, or `(top level)` for what belongs to
//! no field, and any line it gives lies inside the document.

use proptest::prelude::*;

use super::{load_str, ConfigError};
use crate::prim::fuzzing;

/// Documents every mutation starts from: both front doors, small and large.
const SEEDS: &[&str] = &[
    include_str!("../../config/front-proxy.yaml"),
    include_str!("../../config/envoy/front-envoy.yaml"),
    include_str!("../../config/envoy/service-envoy.yaml"),
    include_str!("envoy/testdata/v2.yaml"),
    include_str!("envoy/testdata/v3.yaml"),
    include_str!("envoy/testdata/native.yaml"),
    include_str!("envoy/testdata/resilience.yaml"),
    include_str!("envoy/testdata/resilience.native.yaml"),
];

/// Values that break typed fields: wrong types, out of range, bad units,
/// other YAML node kinds.
const VALUES: &[&str] = &[
    "-1",
    "0",
    "4294967296",
    "99999999999999999999999",
    "1.5",
    "abc",
    "\"\"",
    "~",
    "null",
    "[]",
    "{}",
    "[1, [2]]",
    "{ a: 1 }",
    "250 fortnights",
    "1s",
    "0s",
    "-5ms",
    "0.0.0.0:0",
    "[::1]:80",
    "999.1.1.1:80",
    "*",
    "/",
    "true",
    "\"@type\"",
    "&a 1",
    "*a",
    "!!binary aGk=",
    "|\n  x",
];

/// One edit of a document.
#[derive(Debug, Clone)]
enum Edit {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    /// Replace what follows the line's first `: ` (or the whole line).
    SetValue(usize, usize),
    /// Shift a line's indentation by up to ±4 columns.
    Indent(usize, i8),
    /// Replace the line's key by another line's key (unknown or misplaced fields).
    MoveKey(usize, usize),
    SetByte(usize, u8),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => any::<usize>().prop_map(Edit::DeleteLine),
        1 => any::<usize>().prop_map(Edit::DuplicateLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(l, v)| Edit::SetValue(l, v)),
        1 => (any::<usize>(), -4i8..=4).prop_map(|(l, d)| Edit::Indent(l, d)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::MoveKey(a, b)),
        1 => (any::<usize>(), prop::sample::select(b":-[]{}\"' #\t\n,&*!|>%@0".to_vec()))
            .prop_map(|(i, b)| Edit::SetByte(i, b)),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return String::new();
    }
    let n = lines.len();
    let key = |l: &str| l.split_once(':').map(|(k, _)| k.to_string());
    match *edit {
        Edit::DeleteLine(i) => {
            lines.remove(i % n);
        }
        Edit::DuplicateLine(i) => {
            let line = lines[i % n].clone();
            lines.insert(i % n, line);
        }
        Edit::SwapLines(a, b) => lines.swap(a % n, b % n),
        Edit::SetValue(i, v) => {
            let line = &mut lines[i % n];
            let value = VALUES[v % VALUES.len()];
            *line = match line.split_once(": ") {
                Some((k, _)) => format!("{k}: {value}"),
                None => value.to_string(),
            };
        }
        Edit::Indent(i, d) => {
            let line = &mut lines[i % n];
            *line = if d >= 0 {
                format!("{}{line}", " ".repeat(d as usize))
            } else {
                let strip = line.len() - line.trim_start().len();
                line[strip.min(d.unsigned_abs() as usize)..].to_string()
            };
        }
        Edit::MoveKey(a, b) => {
            if let (Some(from), Some((_, value))) =
                (key(&lines[b % n]), lines[a % n].clone().split_once(':'))
            {
                let indent = lines[a % n].len() - lines[a % n].trim_start().len();
                lines[a % n] = format!("{}{}:{value}", " ".repeat(indent), from.trim_start());
            }
        }
        Edit::SetByte(i, b) => {
            let mut bytes = text.as_bytes().to_vec();
            if !bytes.is_empty() {
                let at = i % bytes.len();
                bytes[at] = b;
            }
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        Edit::Truncate(i) => {
            let cut = i % text.len().max(1);
            let cut = (0..=cut)
                .rev()
                .find(|&c| text.is_char_boundary(c))
                .unwrap_or(0);
            return text[..cut].to_string();
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The error names a place in `text`: a field path (or `(top level)`), and any
/// line it gives lies inside the document (or just past its end, where the
/// parser reports an unexpected end of input).
fn assert_locates(text: &str, err: &ConfigError) {
    let (field, line) = match err {
        ConfigError::Parse { field, line, .. }
        | ConfigError::Invalid { field, line, .. }
        | ConfigError::Unsupported { field, line, .. } => (field, line),
        ConfigError::Read { .. } => panic!("load_str reads no file: {err}"),
    };
    assert!(!field.is_empty(), "no field named: {err}");
    assert!(
        !err.to_string().chars().any(char::is_control),
        "not one line: {err:?}"
    );
    assert!(err.to_string().starts_with(field.as_str()), "{err}");
    if let Some(line) = line {
        assert!(
            (1..=text.lines().count() + 1).contains(line),
            "line {line} outside the document: {err}"
        );
    }
}

proptest! {
    #![proptest_config(fuzzing::config(fuzzing::CI_CASES))]

    #[test]
    fn fuzz_mutated_configs_load_or_name_a_field(
        seed in 0..SEEDS.len(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let text = edits.iter().fold(SEEDS[seed].to_string(), |t, e| apply(&t, e));
        if let Err(err) = load_str(&text) {
            assert_locates(&text, &err);
        }
    }

    #[test]
    fn fuzz_random_yaml_never_panics(text in "[a-z_:\\-\\[\\]{}\" ,#\n0-9]{0,200}") {
        if let Err(err) = load_str(&text) {
            assert_locates(&text, &err);
        }
    }
}

#[test]
fn the_seeds_load() {
    for (i, seed) in SEEDS.iter().enumerate() {
        if let Err(e) = load_str(seed) {
            panic!("seed {i} does not load: {e}");
        }
    }
}
