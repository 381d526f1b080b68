//! A generic YAML tree where every node keeps its line and column.
//!
//! serde-saphyr parses the text (syntax, anchors, aliases, merge keys, resource budgets);
//! this module turns its output into [`Node`]s. The decoders in `topology.rs` and
//! `playbook.rs` then walk the tree against the file format, so that every problem in a
//! file is reported at once: typed deserialization would stop at the first one.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::Diagnostic;

/// A 1-based line and column (in characters); 0 when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    fn of(location: &serde_saphyr::Location) -> Self {
        Pos {
            line: u32::try_from(location.line()).unwrap_or(u32::MAX),
            column: u32::try_from(location.column()).unwrap_or(u32::MAX),
        }
    }
}

/// One YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// The value of a node. Plain scalars arrive typed (YAML 1.2 core schema, strict booleans).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order, duplicates kept (the decoders report them).
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// What the user wrote, in words, for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "nothing".to_string(),
            Value::Bool(b) => format!("boolean `{b}`"),
            Value::Int(i) => format!("number `{i}`"),
            Value::Float(f) => format!("number `{f}`"),
            Value::Str(s) => format!("string `{}`", shorten(s)),
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a mapping".to_string(),
        }
    }
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

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

fn node<E>(spanned: Spanned<Value>) -> Result<Node, E> {
    Ok(Node {
        pos: Pos::of(&spanned.referenced),
        value: spanned.value,
    })
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(i128::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_char<E>(self, v: char) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element::<Spanned<Value>>()? {
            items.push(node(item)?);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(key) = map.next_key::<Spanned<Value>>()? {
            let value = map.next_value::<Spanned<Value>>()?;
            entries.push((node(key)?, node(value)?));
        }
        Ok(Value::Map(entries))
    }
}

/// Parses YAML text into a spanned tree; a syntax error becomes one located diagnostic.
pub(crate) fn parse(file: &str, text: &str) -> Result<Node, Diagnostic> {
    let mut budget = serde_saphyr::Budget::default();
    // The defaults (250k nodes, 1M events) are below a 10,000-service topology; these still
    // bound memory and time on hostile input.
    budget.max_nodes = 20_000_000;
    budget.max_events = 40_000_000;
    // The formats nest about 8 deep. Each level of nesting costs tens of KiB of stack in a
    // debug build (serde-saphyr plus the span wrapper); 64 levels overflow a 2 MiB thread.
    budget.max_depth = 24;
    let options = serde_saphyr::options! {
        budget: Some(budget),
        strict_booleans: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        with_snippet: false,
    };
    match serde_saphyr::from_str_with_options::<Spanned<Value>>(text, options) {
        Ok(root) => node(root),
        Err(err) => {
            let pos = err.location().map(|l| Pos::of(&l)).unwrap_or_default();
            let err = err.without_snippet();
            let mut message = err.to_string();
            // serde-saphyr appends " at line X column Y"; the location is already in front.
            if let Some(i) = message.find(" at line ") {
                message.truncate(i);
            }
            if let Some(rest) = message.strip_prefix("budget breached: ") {
                message = format!("the document is too large or nested too deeply ({rest})");
            }
            Err(Diagnostic::at(
                file,
                pos.line,
                pos.column,
                format!("invalid YAML: {message}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_keep_line_and_column_of_keys_and_values() {
        let root = parse("t.yaml", "a: 1\nb:\n  - x\n  - {c: 2.5}\n").unwrap();
        let Value::Map(entries) = root.value else {
            panic!()
        };
        assert_eq!(entries[0].0.pos, Pos { line: 1, column: 1 });
        assert_eq!(entries[0].1.value, Value::Int(1));
        assert_eq!(entries[1].0.pos, Pos { line: 2, column: 1 });
        let Value::Seq(items) = &entries[1].1.value else {
            panic!()
        };
        assert_eq!(items[0].pos, Pos { line: 3, column: 5 });
        assert_eq!(items[0].value, Value::Str("x".into()));
        let Value::Map(inner) = &items[1].value else {
            panic!()
        };
        assert_eq!(inner[0].0.pos, Pos { line: 4, column: 6 });
        assert_eq!(inner[0].1.value, Value::Float(2.5));
    }

    #[test]
    fn duplicate_keys_are_kept_for_the_decoder_to_report() {
        let root = parse("t.yaml", "a: 1\na: 2\n").unwrap();
        let Value::Map(entries) = root.value else {
            panic!()
        };
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn yes_and_no_are_strings() {
        let root = parse("t.yaml", "[yes, no, true]").unwrap();
        let Value::Seq(items) = root.value else {
            panic!()
        };
        assert_eq!(items[0].value, Value::Str("yes".into()));
        assert_eq!(items[2].value, Value::Bool(true));
    }

    #[test]
    fn syntax_error_has_a_location() {
        let err = parse("t.yaml", "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line > 0, "{err}");
        assert!(err.message.starts_with("invalid YAML: "), "{err}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "[".repeat(100_000);
        assert!(parse("t.yaml", &text).is_err());
        let text = "a:\n".to_string()
            + &(1..200)
                .map(|i| format!("{}b:\n", " ".repeat(i)))
                .collect::<String>();
        let _ = parse("t.yaml", &text);
    }
}
