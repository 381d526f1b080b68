//! A generic YAML tree where every node keeps its line and column.
//!
//! Built straight from the event stream of serde-saphyr's parser (`granit_parser`, re-exported
//! by serde-saphyr): the serde layer on top of it doubled the time to load a 4 MB topology.
//! Scalars keep their source text and whether they were plain (unquoted), so a value is typed
//! only where the format says what it should be: `no` stays a string where a region is
//! expected, and `"5"` is not a number. The decoders in `topology.rs` and `playbook.rs` walk
//! the tree against the file format, so that every problem in a file is reported at once.
//!
//! Building is iterative (no recursion on the input's nesting), nesting is capped, and alias
//! expansion is budgeted, so no input can exhaust the stack or memory.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Options, Parser, ScalarStyle, ScanError, Span};

/// A 1-based line and column (in characters); 0 when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    fn of(span: &Span) -> Self {
        Pos {
            line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
            column: u32::try_from(span.start.col().saturating_add(1)).unwrap_or(u32::MAX),
        }
    }
}

/// One YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// The value of a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A scalar's text after escapes; `plain` when written without quotes or block style
    /// (only plain scalars can be numbers, booleans or null).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in document order, duplicates kept (the decoders report them).
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// Whether this is a null (`~`, `null` or nothing at all).
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The scalar as a number, when it is a plain YAML 1.2 integer or float.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Scalar { text, plain: true } => parse_int(text)
                .map(|i| i as f64)
                .or_else(|| parse_float(text)),
            _ => None,
        }
    }

    /// The scalar as an integer, when it is a plain YAML 1.2 integer.
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Value::Scalar { text, plain: true } => parse_int(text),
            _ => None,
        }
    }

    /// What the user wrote, in words, for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match self {
            _ if self.is_null() => "nothing".to_string(),
            Value::Scalar { text, plain: true } if self.as_number().is_some() => {
                format!("number `{}`", shorten(text))
            }
            Value::Scalar { text, plain: true } if matches!(text.as_str(), "true" | "false") => {
                format!("boolean `{text}`")
            }
            Value::Scalar { text, .. } => format!("string `{}`", shorten(text)),
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a mapping".to_string(),
        }
    }
}

/// A YAML 1.2 core-schema integer: `[-+]?[0-9]+`, `0o[0-7]+` or `0x[0-9a-fA-F]+`.
fn parse_int(text: &str) -> Option<i128> {
    if let Some(hex) = text.strip_prefix("0x") {
        return (!hex.is_empty() && hex.len() <= 30).then(|| i128::from_str_radix(hex, 16).ok())?;
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return (!oct.is_empty() && oct.len() <= 40).then(|| i128::from_str_radix(oct, 8).ok())?;
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || digits.len() > 38 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A YAML 1.2 core-schema finite float: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
/// `.inf` and `.nan` are not accepted: no setting of kong takes them.
fn parse_float(text: &str) -> Option<f64> {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac {
        Some(f) => digits(int) && digits(f) && !(int.is_empty() && f.is_empty()),
        None => !int.is_empty() && digits(int),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if !(mantissa_ok && exponent_ok) {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Cuts long user text so one message stays on one readable line.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= MAX {
        one_line
    } else {
        let cut: String = one_line.chars().take(MAX).collect();
        format!("{cut}...")
    }
}

/// The formats nest about 8 deep; anything far deeper is a mistake or hostile.
const MAX_DEPTH: usize = 64;
/// Nodes that alias expansion may copy in one document (guards against "billion laughs").
const MAX_ALIAS_NODES: usize = 1_000_000;

/// A syntax problem: where and what.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl SyntaxError {
    fn scan(err: &ScanError) -> Self {
        let m = err.marker();
        SyntaxError {
            pos: Pos {
                line: u32::try_from(m.line()).unwrap_or(u32::MAX),
                column: u32::try_from(m.col().saturating_add(1)).unwrap_or(u32::MAX),
            },
            message: format!("invalid YAML: {}", err.info()),
        }
    }

    fn at(span: &Span, message: &str) -> Self {
        SyntaxError {
            pos: Pos::of(span),
            message: format!("invalid YAML: {message}"),
        }
    }
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

/// Parses one YAML document into a spanned tree. An empty document is a null at 1:1.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut options = Options::default();
    options.emit_comments = false;
    let mut parser = Parser::new_from_str_with_options(text, options);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut alias_budget = MAX_ALIAS_NODES;
    let mut root: Option<Node> = None;
    let mut documents = 0;

    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| SyntaxError::scan(&e))?;
        let (node, anchor) = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => continue,
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError::at(
                        &span,
                        "expected one YAML document, found a second one (`---`)",
                    ));
                }
                continue;
            }
            Event::Alias(id) => {
                let Some(target) = anchors.get(&id) else {
                    return Err(SyntaxError::at(&span, "alias to an unknown anchor"));
                };
                let size = count(target);
                if size > alias_budget {
                    return Err(SyntaxError::at(
                        &span,
                        "aliases expand to too many nodes; write the values out or use fewer aliases",
                    ));
                }
                alias_budget -= size;
                (target.clone(), 0)
            }
            Event::Scalar(text, style, anchor, tag) => {
                // An explicit `!!str` makes a plain scalar a string; other tags are ignored.
                let forced_string = tag
                    .as_ref()
                    .is_some_and(|t| t.suffix() == "str" || t.suffix().ends_with(":str"));
                let plain = matches!(style, ScalarStyle::Plain) && !forced_string;
                let node = Node {
                    pos: Pos::of(&span),
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain,
                    },
                };
                (node, anchor)
            }
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(SyntaxError::at(
                        &span,
                        &format!("nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let pos = Pos::of(&span);
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq {
                        pos,
                        anchor,
                        items: Vec::new(),
                    }
                } else {
                    Frame::Map {
                        pos,
                        anchor,
                        entries: Vec::new(),
                        key: None,
                    }
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq { pos, anchor, items }) => (
                    Node {
                        pos,
                        value: Value::Seq(items),
                    },
                    anchor,
                ),
                Some(Frame::Map {
                    pos,
                    anchor,
                    entries,
                    ..
                }) => (
                    Node {
                        pos,
                        value: Value::Map(merge(entries)),
                    },
                    anchor,
                ),
                None => return Err(SyntaxError::at(&span, "unexpected end of a collection")),
            },
            // Comments, anchor metadata and unresolved aliases are not emitted with these
            // options; skip anything else a newer parser may add.
            _ => continue,
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    Ok(root.unwrap_or(Node {
        pos: Pos { line: 1, column: 1 },
        value: Value::Scalar {
            text: String::new(),
            plain: true,
        },
    }))
}

/// Nodes in a tree (for the alias budget), without recursion.
fn count(node: &Node) -> usize {
    let mut n = 0;
    let mut todo = vec![node];
    while let Some(node) = todo.pop() {
        n += 1;
        match &node.value {
            Value::Scalar { .. } => {}
            Value::Seq(items) => todo.extend(items),
            Value::Map(entries) => {
                for (k, v) in entries {
                    todo.push(k);
                    todo.push(v);
                }
            }
        }
    }
    n
}

/// Applies YAML merge keys (`<<: *defaults`, or a list of them): merged entries come after
/// the explicit ones and never override them.
fn merge(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    let is_merge =
        |k: &Node| matches!(&k.value, Value::Scalar { text, plain: true } if text == "<<");
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return entries;
    }
    let (merges, mut out): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(k, _)| is_merge(k));
    for (key, value) in merges {
        let sources = match value.value {
            Value::Map(m) => vec![m],
            Value::Seq(items) if items.iter().all(|i| matches!(i.value, Value::Map(_))) => items
                .into_iter()
                .filter_map(|i| match i.value {
                    Value::Map(m) => Some(m),
                    _ => None,
                })
                .collect(),
            // Not mergeable: keep it as an ordinary key so the decoder reports `<<`.
            other => {
                out.push((
                    key,
                    Node {
                        pos: value.pos,
                        value: other,
                    },
                ));
                continue;
            }
        };
        for source in sources {
            for (k, v) in source {
                let present = out.iter().any(|(o, _)| o.value == k.value);
                if !present {
                    out.push((k, v));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::Scalar {
            text: text.into(),
            plain: true,
        }
    }

    #[test]
    fn nodes_keep_line_and_column_of_keys_and_values() {
        let root = parse("a: 1\nb:\n  - x\n  - {c: 2.5}\n").unwrap();
        let Value::Map(entries) = root.value else {
            panic!()
        };
        assert_eq!(entries[0].0.pos, Pos { line: 1, column: 1 });
        assert_eq!(entries[0].1.value, s("1"));
        assert_eq!(entries[0].1.pos, Pos { line: 1, column: 4 });
        assert_eq!(entries[1].0.pos, Pos { line: 2, column: 1 });
        let Value::Seq(items) = &entries[1].1.value else {
            panic!()
        };
        assert_eq!(items[0].pos, Pos { line: 3, column: 5 });
        assert_eq!(items[0].value, s("x"));
        let Value::Map(inner) = &items[1].value else {
            panic!()
        };
        assert_eq!(inner[0].0.pos, Pos { line: 4, column: 6 });
        assert_eq!(inner[0].1.value.as_number(), Some(2.5));
    }

    #[test]
    fn scalars_are_typed_only_when_plain() {
        let root = parse("[5, '5', \"5\", 1e3, 0x1F, -2, yes, true, ~, .inf, 1_000]").unwrap();
        let Value::Seq(items) = root.value else {
            panic!()
        };
        let numbers: Vec<Option<f64>> = items.iter().map(|i| i.value.as_number()).collect();
        assert_eq!(
            numbers,
            [
                Some(5.0),
                None,
                None,
                Some(1000.0),
                Some(31.0),
                Some(-2.0),
                None,
                None,
                None,
                None,
                None
            ]
        );
        assert_eq!(items[0].value.as_int(), Some(5));
        assert_eq!(items[3].value.as_int(), None);
        assert_eq!(items[6].value.describe(), "string `yes`");
        assert_eq!(items[7].value.describe(), "boolean `true`");
        assert!(items[8].value.is_null());
    }

    #[test]
    fn duplicate_keys_are_kept_for_the_decoder_to_report() {
        let root = parse("a: 1\na: 2\n").unwrap();
        let Value::Map(entries) = root.value else {
            panic!()
        };
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn anchors_aliases_and_merge_keys_are_resolved() {
        let root = parse("d: &d {x: 1, y: 2}\ne: {<<: *d, y: 3}\nf: *d\n").unwrap();
        let Value::Map(entries) = root.value else {
            panic!()
        };
        let Value::Map(e) = &entries[1].1.value else {
            panic!()
        };
        let keys: Vec<(&Value, &Value)> = e.iter().map(|(k, v)| (&k.value, &v.value)).collect();
        assert_eq!(keys, [(&s("y"), &s("3")), (&s("x"), &s("1"))]);
        assert_eq!(entries[2].1.value, entries[0].1.value);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("too many nodes"), "{err:?}");
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line > 0, "{err:?}");
        assert!(err.message.starts_with("invalid YAML: "), "{err:?}");
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.pos.line, 2, "{err:?}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for text in [
            "[".repeat(100_000),
            "[".repeat(100) + &"]".repeat(100),
            (0..100).map(|i| format!("{}b:\n", " ".repeat(i))).collect(),
            "- ".repeat(10_000),
        ] {
            assert!(parse(&text).is_err());
        }
        let ok = "[".repeat(60) + &"]".repeat(60);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn empty_documents_are_null() {
        assert!(parse("").unwrap().value.is_null());
        assert!(parse("# only a comment\n").unwrap().value.is_null());
    }
}
