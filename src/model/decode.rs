//! Reading typed values out of a spanned [`Node`] tree while collecting every problem.
//!
//! Each helper returns `None` after recording a diagnostic, so callers keep going and a
//! file's problems are all reported in one run. Nothing here panics on any input.

use std::collections::HashMap;
use std::time::Duration;

use super::duration::{EXPECTED as DURATION_EXPECTED, parse_duration};
use super::node::{Node, Pos, Value, shorten};
use super::{Diagnostic, Diagnostics};

/// Collects the diagnostics of one file.
pub(crate) struct Ctx<'a> {
    file: &'a str,
    diags: Vec<(Pos, String)>,
    /// "Did you mean" suggestions cost a scan of the candidates: bound them on huge files.
    suggestions_left: usize,
    /// Lines holding a secret (a webhook URL): diagnostics on them get no source snippet.
    hidden_lines: Vec<u32>,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a str) -> Self {
        Ctx {
            file,
            diags: Vec::new(),
            suggestions_left: 100,
            hidden_lines: Vec::new(),
        }
    }

    /// Keeps the line of `pos` out of every diagnostic's snippet (it holds a secret).
    pub fn hide_line(&mut self, pos: Pos) {
        self.hidden_lines.push(pos.line);
    }

    /// Records a problem at `pos`.
    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags.push((pos, message.into()));
    }

    /// Whether any problem was recorded.
    pub fn failed(&self) -> bool {
        !self.diags.is_empty()
    }

    /// The diagnostics, sorted by position, deduplicated, each with its source line.
    pub fn finish(self, text: &str) -> Diagnostics {
        let mut diags = self.diags;
        diags.sort();
        diags.dedup();
        let lines = LineIndex::new(text);
        let hidden = self.hidden_lines;
        Diagnostics(
            diags
                .into_iter()
                .map(|(pos, message)| {
                    let mut d = Diagnostic::at(self.file, pos.line, pos.column, message);
                    if !hidden.contains(&pos.line) {
                        d.source_line = lines.line(pos.line).map(str::to_string);
                    }
                    d
                })
                .collect(),
        )
    }

    /// `" (did you mean `x`?)"` when one candidate is close to `found`, else `""`.
    pub fn suggest<'c>(
        &mut self,
        found: &str,
        candidates: impl IntoIterator<Item = &'c str>,
    ) -> String {
        if self.suggestions_left == 0 {
            return String::new();
        }
        self.suggestions_left -= 1;
        match closest(found, candidates) {
            Some(c) => format!(" (did you mean `{c}`?)"),
            None => String::new(),
        }
    }

    /// The entries of a mapping (`null` reads as none), or an error that names what was
    /// `expected` and what was found.
    fn mapping<'n>(
        &mut self,
        node: &'n Node,
        expected: impl FnOnce() -> String,
    ) -> Option<&'n [(Node, Node)]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            v if v.is_null() => Some(&[]),
            other => {
                let message = format!("expected {}, found {}", expected(), other.describe());
                self.error(node.pos, message);
                None
            }
        }
    }

    /// Reads a mapping with a fixed set of keys. Reports unknown keys (naming the allowed
    /// ones), duplicate keys and non-string keys. `anchor` is where "missing key" errors
    /// point (usually the mapping's own key). `null` reads as an empty mapping.
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        anchor: Pos,
        what: &str,
        allowed: &'static [&'static str],
    ) -> Option<Fields<'n>> {
        let entries = self.mapping(node, || {
            format!("{what} (a mapping with keys {})", allowed.join(", "))
        })?;
        let mut fields = Fields {
            anchor,
            entries: Vec::with_capacity(entries.len()),
            typos: Vec::new(),
        };
        for (key, value) in entries {
            let Some(name) = self.key_name(key, what) else {
                continue;
            };
            match allowed.iter().find(|a| **a == name) {
                Some(known) => {
                    if let Some((_, first, _)) = fields.entries.iter().find(|(k, _, _)| k == known)
                    {
                        let line = first.line;
                        self.error(
                            key.pos,
                            format!("duplicate key `{name}` in {what} (first set on line {line})"),
                        );
                    } else {
                        fields.entries.push((known, key.pos, value));
                    }
                }
                None => {
                    if let Some(meant) = closest(name, allowed.iter().copied()) {
                        fields.typos.push(meant);
                    }
                    let hint = self.suggest(name, allowed.iter().copied());
                    self.error(
                        key.pos,
                        format!(
                            "unknown key `{}` in {what}, expected one of: {}{hint}",
                            shorten(name),
                            allowed.join(", ")
                        ),
                    );
                }
            }
        }
        Some(fields)
    }

    /// Reads a mapping keyed by user names (services, regions, members). Duplicate names are
    /// reported; the first one wins. `null` reads as an empty mapping.
    pub fn named<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        key_kind: &str,
    ) -> Option<Vec<Named<'n>>> {
        let entries = self.mapping(node, || format!("{what} (a mapping of {key_kind} names)"))?;
        let mut out: Vec<Named<'n>> = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let Some(name) = self.key_name(key, what) else {
                continue;
            };
            if name.is_empty() {
                self.error(key.pos, format!("empty {key_kind} name in {what}"));
                continue;
            }
            out.push(Named {
                name: name.to_string(),
                pos: key.pos,
                value,
            });
        }
        let duplicates = duplicates(&out);
        if duplicates.is_empty() {
            return Some(out);
        }
        for &(i, first) in &duplicates {
            let message = format!(
                "duplicate {key_kind} `{}` in {what} (first defined on line {})",
                shorten(&out[i].name),
                first.line
            );
            self.error(out[i].pos, message);
        }
        let mut dropped = vec![false; out.len()];
        for &(i, _) in &duplicates {
            dropped[i] = true;
        }
        let mut flags = dropped.into_iter();
        out.retain(|_| !flags.next().unwrap_or(false));
        Some(out)
    }

    fn key_name<'n>(&mut self, key: &'n Node, what: &str) -> Option<&'n str> {
        match &key.value {
            Value::Scalar { text, .. } => Some(text),
            other => {
                self.error(
                    key.pos,
                    format!(
                        "expected a name as key in {what}, found {}",
                        other.describe()
                    ),
                );
                None
            }
        }
    }

    /// A string: any scalar's text as written (`no`, `1.10` and `0123` stay as they are).
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            v if v.is_null() => {
                self.error(
                    node.pos,
                    format!("expected {what} (a string), found nothing"),
                );
                None
            }
            Value::Scalar { text, .. } => Some(text.clone()),
            other => {
                self.error(
                    node.pos,
                    format!("expected {what} (a string), found {}", other.describe()),
                );
                None
            }
        }
    }

    /// A non-empty string.
    pub fn non_empty(&mut self, node: &Node, what: &str) -> Option<String> {
        let s = self.string(node, what)?;
        if s.trim().is_empty() {
            self.error(
                node.pos,
                format!("{what} is empty: expected a non-empty string"),
            );
            return None;
        }
        Some(s)
    }

    /// A name usable in `service/dial` references: non-empty, no `/`, no whitespace.
    pub fn name(&mut self, node: &Node, what: &str) -> Option<String> {
        let s = self.non_empty(node, what)?;
        if !is_plain_name(&s) {
            self.error(
                node.pos,
                format!(
                    "invalid {what} `{}`: expected a name without `/` or spaces",
                    shorten(&s)
                ),
            );
            return None;
        }
        Some(s)
    }

    /// A finite number.
    pub fn number(&mut self, node: &Node, what: &str) -> Option<f64> {
        let v = node.value.as_number();
        if v.is_none() {
            self.error(
                node.pos,
                format!(
                    "expected {what} (a number), found {}",
                    node.value.describe()
                ),
            );
        }
        v
    }

    /// A whole number in `range`; `expected` describes the range for the message.
    pub fn integer(
        &mut self,
        node: &Node,
        what: &str,
        range: std::ops::RangeInclusive<i128>,
        expected: &str,
    ) -> Option<u32> {
        match node.value.as_int() {
            Some(i) if range.contains(&i) => u32::try_from(i).ok(),
            Some(i) => {
                self.error(
                    node.pos,
                    format!("{what} `{i}` is out of range: expected {expected}"),
                );
                None
            }
            None => {
                self.error(
                    node.pos,
                    format!(
                        "expected {what} ({expected}), found {}",
                        node.value.describe()
                    ),
                );
                None
            }
        }
    }

    /// A duration that must not be zero: `{what} is 0s: expected a positive duration{advice}`
    /// otherwise (`advice`: ", e.g. 5s", or how to say "none").
    pub fn positive_duration(&mut self, node: &Node, what: &str, advice: &str) -> Option<Duration> {
        let d = self.duration(node, what)?;
        if d.is_zero() {
            self.error(
                node.pos,
                format!("{what} is 0s: expected a positive duration{advice}"),
            );
            return None;
        }
        Some(d)
    }

    /// A duration like `90s`, `2m` or `1h30m`.
    pub fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        match &node.value {
            Value::Scalar { text, .. }
                if !node.value.is_null() && node.value.as_number().is_none() =>
            {
                match parse_duration(text) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        self.error(node.pos, format!("{what}: {e}"));
                        None
                    }
                }
            }
            other => {
                self.error(
                    node.pos,
                    format!("{what}: {DURATION_EXPECTED}, found {}", other.describe()),
                );
                None
            }
        }
    }

    /// A list.
    pub fn list<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            other => {
                self.error(
                    node.pos,
                    format!("expected {what} (a list), found {}", other.describe()),
                );
                None
            }
        }
    }
}

/// Indexes of entries whose name was seen before, with the first one's position.
fn duplicates(entries: &[Named]) -> Vec<(usize, Pos)> {
    let mut found = Vec::new();
    if entries.len() <= 16 {
        for (i, e) in entries.iter().enumerate() {
            if let Some(first) = entries[..i].iter().find(|f| f.name == e.name) {
                found.push((i, first.pos));
            }
        }
    } else {
        let mut seen: HashMap<&str, Pos> = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            if let Some(first) = seen.get(e.name.as_str()) {
                found.push((i, *first));
            } else {
                seen.insert(&e.name, e.pos);
            }
        }
    }
    found
}

/// Whether `s` can be part of a `service/dial` reference and a file name.
pub(crate) fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && !s.contains('/') && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The fields of a fixed-key mapping, after unknown and duplicate keys were reported.
pub(crate) struct Fields<'n> {
    /// Where "missing key" errors point.
    pub anchor: Pos,
    entries: Vec<(&'static str, Pos, &'n Node)>,
    /// Known keys that an unknown key was reported as a likely typo of.
    typos: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }

    /// The value of `key` and the key's position, if present.
    pub fn get_with_key(&self, key: &str) -> Option<(Pos, &'n Node)> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, p, v)| (*p, *v))
    }

    /// Whether an unknown key was reported as a likely typo of `key` (so "missing `key`"
    /// would only repeat it).
    pub fn is_typo(&self, key: &str) -> bool {
        self.typos.contains(&key)
    }

    /// Whether `key` is present.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The keys present, with their positions, in document order.
    pub fn keys(&self) -> impl Iterator<Item = (&'static str, Pos)> + '_ {
        self.entries.iter().map(|(k, p, _)| (*k, *p))
    }

    /// The value of `key`, or a "missing key" error at the anchor.
    pub fn require(&self, ctx: &mut Ctx, key: &str, what: &str) -> Option<&'n Node> {
        let v = self.get(key);
        // A typo of this key was already reported ("did you mean"); one message is enough.
        if v.is_none() && !self.typos.contains(&key) {
            ctx.error(self.anchor, format!("missing key `{key}` in {what}"));
        }
        v
    }
}

/// One entry of a mapping keyed by user names.
pub(crate) struct Named<'n> {
    pub name: String,
    pub pos: Pos,
    pub value: &'n Node,
}

/// The candidate closest to `found` by edit distance, if close enough to be a typo.
pub(crate) fn closest<'c>(
    found: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    // One edit per three characters: `capcity` -> `capacity`, but `x` suggests nothing.
    let limit = found.chars().count() / 3;
    if limit == 0 {
        return None;
    }
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(found, c);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 3 || a.len() > 64 {
        return usize::MAX;
    }
    // Optimal string alignment: a swap of two neighbours (`laod`) counts as one edit.
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        d[i * width] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j - 1] + cost)
                .min(d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

/// The text of `key`'s scalar value in a mapping node, to name the mapping in messages
/// before it is decoded (e.g. a dial's `id`).
pub(crate) fn peek<'n>(node: &'n Node, key: &str) -> Option<&'n str> {
    let Value::Map(entries) = &node.value else {
        return None;
    };
    entries
        .iter()
        .find_map(|(k, v)| match (&k.value, &v.value) {
            (Value::Scalar { text: k, .. }, Value::Scalar { text, .. })
                if k == key && !v.value.is_null() =>
            {
                Some(text.as_str())
            }
            _ => None,
        })
}

/// Finds the text of a line by number without copying the file.
struct LineIndex<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    fn new(text: &'t str) -> Self {
        // YAML breaks lines at `\n`, `\r\n` and a lone `\r`; so must the snippet.
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, b) in bytes.iter().enumerate() {
            let lone_cr = *b == b'\r' && bytes.get(i + 1) != Some(&b'\n');
            if *b == b'\n' || lone_cr {
                starts.push(i + 1);
            }
        }
        LineIndex { text, starts }
    }

    fn line(&self, number: u32) -> Option<&'t str> {
        let i = (number as usize).checked_sub(1)?;
        let start = *self.starts.get(i)?;
        let end = self.starts.get(i + 1).map_or(self.text.len(), |e| e - 1);
        let line = self.text.get(start..end)?.trim_end_matches(['\r', '\n']);
        (line.len() <= 300).then_some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_only() {
        let keys = ["capacity", "load", "depends_on"];
        assert_eq!(closest("capcity", keys), Some("capacity"));
        assert_eq!(closest("dependson", keys), Some("depends_on"));
        assert_eq!(closest("zzz", keys), None);
        assert_eq!(closest("laod", keys), Some("load"));
    }

    #[test]
    fn line_index_returns_lines_without_newlines() {
        let idx = LineIndex::new("a\r\nbb\n\nccc\rd");
        assert_eq!(idx.line(1), Some("a"));
        assert_eq!(idx.line(2), Some("bb"));
        assert_eq!(idx.line(3), Some(""));
        assert_eq!(idx.line(4), Some("ccc"));
        assert_eq!(idx.line(5), Some("d"));
        assert_eq!(idx.line(6), None);
        assert_eq!(idx.line(0), None);
    }
}
