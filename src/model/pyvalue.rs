//! Plain Python data kept as it was, for parts of a snapshot memsight does not model
//! (unknown keys, allocator settings, user metadata).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Default)]
pub enum PyValue {
    #[default]
    None,
    Bool(bool),
    Int(i64),
    /// An integer too large for i64, as little-endian two's complement bytes (pickle's LONG).
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<PyValue>),
    Tuple(Vec<PyValue>),
    Set(Vec<PyValue>),
    Dict(Vec<(PyValue, PyValue)>),
}

impl PyValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PyValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            PyValue::Int(i) => Some(*i),
            PyValue::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PyValue::Float(f) => Some(*f),
            PyValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// Looks a string key up in a dict.
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        match self {
            PyValue::Dict(items) => items
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A JSON rendering, for `info --json` and reports.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            PyValue::None => J::Null,
            PyValue::Bool(b) => J::Bool(*b),
            PyValue::Int(i) => J::from(*i),
            PyValue::BigInt(_) => J::String(self.to_string()),
            PyValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            PyValue::Str(s) => J::String(s.clone()),
            PyValue::Bytes(b) => J::String(String::from_utf8_lossy(b).into_owned()),
            PyValue::List(v) | PyValue::Tuple(v) | PyValue::Set(v) => {
                J::Array(v.iter().map(PyValue::to_json).collect())
            }
            PyValue::Dict(items) => {
                let mut m = serde_json::Map::new();
                for (k, v) in items {
                    let key = match k {
                        PyValue::Str(s) => s.clone(),
                        other => other.to_string(),
                    };
                    m.insert(key, v.to_json());
                }
                J::Object(m)
            }
        }
    }
}

impl fmt::Display for PyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PyValue::None => write!(f, "None"),
            PyValue::Bool(b) => write!(f, "{}", if *b { "True" } else { "False" }),
            PyValue::Int(i) => write!(f, "{i}"),
            PyValue::BigInt(bytes) => {
                write!(f, "0x")?;
                for b in bytes.iter().rev() {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
            PyValue::Float(x) => write!(f, "{x}"),
            PyValue::Str(s) => write!(f, "{s:?}"),
            PyValue::Bytes(b) => write!(f, "b{:?}", String::from_utf8_lossy(b)),
            PyValue::List(v) | PyValue::Set(v) => {
                write_items(f, ("[", "]"), v, |f, x| write!(f, "{x}"))
            }
            PyValue::Tuple(v) => write_items(f, ("(", ")"), v, |f, x| write!(f, "{x}")),
            PyValue::Dict(items) => {
                write_items(f, ("{", "}"), items, |f, (k, v)| write!(f, "{k}: {v}"))
            }
        }
    }
}

/// Writes `items` between `brackets`, comma-separated, as Python's `repr` does.
fn write_items<T>(
    f: &mut fmt::Formatter<'_>,
    (open, close): (&str, &str),
    items: &[T],
    mut item: impl FnMut(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    f.write_str(open)?;
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        item(f, x)?;
    }
    f.write_str(close)
}
