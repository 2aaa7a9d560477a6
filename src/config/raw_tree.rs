//! The walk of `raw.rs`: `toml_edit`'s tree turned into [`Entry`]s and [`Node`]s, each with
//! the byte offset it was written at (a key's own span, else its value's, else the table's),
//! and a syntax error turned into a one-line [`Problem`].

use toml_edit::{Item, Table, Value};

use super::{Entry, Kind, Node, Problem};

pub(super) fn syntax_error(text: &str, err: &toml_edit::TomlError) -> Problem {
    let at = err.span().map_or(text.len(), |s| s.start);
    // toml_edit's message can span lines ("invalid string\nexpected `\"`"); keep one line.
    let lines: Vec<&str> = err
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let message = format!("invalid TOML: {}", lines.join("; "));
    Problem::new(at, message)
}

fn join(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

/// `at` is where the owner of `table` starts, for keys and values without a span.
pub(super) fn table_entries(table: &Table, prefix: &str, at: usize) -> Vec<Entry> {
    table
        .iter()
        .filter_map(|(name, _)| table.get_key_value(name))
        .map(|(key, item)| {
            let key_at = key.span().map_or(at, |s| s.start);
            let path = join(prefix, key.get());
            let node = item_node(item, &path, key_at);
            Entry {
                key: key.get().to_owned(),
                key_at,
                path,
                node,
            }
        })
        .collect()
}

fn item_node(item: &Item, path: &str, key_at: usize) -> Node {
    match item {
        Item::Value(value) => value_node(value, path, key_at),
        Item::Table(t) => {
            let at = t.span().map_or(key_at, |s| s.start);
            Node {
                at,
                kind: Kind::Table(table_entries(t, path, at)),
            }
        }
        Item::ArrayOfTables(tables) => {
            let at = tables.span().map_or(key_at, |s| s.start);
            let items = tables
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let at = t.span().map_or(at, |s| s.start);
                    let path = format!("{path}[{i}]");
                    Node {
                        at,
                        kind: Kind::Table(table_entries(t, &path, at)),
                    }
                })
                .collect();
            Node {
                at,
                kind: Kind::Array(items),
            }
        }
        // The parser never leaves an empty slot in a document it built.
        Item::None => Node {
            at: key_at,
            kind: Kind::Table(Vec::new()),
        },
    }
}

fn value_node(value: &Value, path: &str, fallback: usize) -> Node {
    let at = value.span().map_or(fallback, |s| s.start);
    let kind = match value {
        Value::String(s) => Kind::String(s.value().clone()),
        Value::Integer(i) => Kind::Integer(*i.value()),
        Value::Float(f) => Kind::Float(*f.value()),
        Value::Boolean(b) => Kind::Boolean(*b.value()),
        Value::Datetime(_) => Kind::Datetime,
        Value::Array(items) => Kind::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| value_node(v, &format!("{path}[{i}]"), at))
                .collect(),
        ),
        Value::InlineTable(t) => Kind::Table(
            t.iter()
                .filter_map(|(name, _)| t.get_key_value(name))
                .map(|(key, item)| {
                    let key_at = key.span().map_or(at, |s| s.start);
                    let path = join(path, key.get());
                    let node = item_node(item, &path, key_at);
                    Entry {
                        key: key.get().to_owned(),
                        key_at,
                        path,
                        node,
                    }
                })
                .collect(),
        ),
    };
    Node { at, kind }
}
