//! Structure-aware inputs shared by the fuzz targets: JSON values built from fuzz bytes, so that
//! libFuzzer's mutations reach merge, limit and template logic instead of dying in the JSON
//! parser. Keys come from a small alphabet so that patches and targets overlap.

use arbitrary::{Result, Unstructured};
use serde_json::{Map, Number, Value};

/// Keys drawn mostly from a tiny set, so merges touch the same members.
const KEYS: &[&str] = &["a", "b", "c", "d", "sub", "exp", "iat", "azp", "role", ""];

/// Shortcode fragments, so that template strings are well formed often enough to render.
const TEMPLATE_WORDS: &[&str] = &[
    "{{",
    "}}",
    "||",
    "'",
    " ",
    ".",
    "user",
    "user.id",
    "user.first_name",
    "user.full_name",
    "user.public_metadata",
    "user.public_metadata.a",
    "user.public_metadata.a.b",
    "user.unsafe_metadata.c",
    "user.private_metadata",
    "user.email_verified",
    "user.created_at",
    "true",
    "false",
    "null",
    "-1",
    "1e3",
    "'x'",
    "é",
];

/// How to shape a generated value.
#[derive(Clone, Copy)]
pub struct Shape {
    /// Recursion budget for ordinary nesting (objects and arrays with several members).
    pub max_depth: usize,
    /// Longest single-key chain that may wrap a value (to probe depth bounds cheaply).
    pub max_wrap: usize,
    /// Build strings from template fragments rather than arbitrary text.
    pub template_strings: bool,
}

pub fn key(u: &mut Unstructured) -> Result<String> {
    if u.ratio(7u8, 8u8)? {
        Ok((*u.choose(KEYS)?).to_owned())
    } else {
        u.arbitrary()
    }
}

pub fn string(u: &mut Unstructured, shape: Shape) -> Result<String> {
    if shape.template_strings && u.ratio(3u8, 4u8)? {
        let words = u.int_in_range(0..=8u8)?;
        let mut s = String::new();
        for _ in 0..words {
            s.push_str(u.choose(TEMPLATE_WORDS)?);
        }
        return Ok(s);
    }
    if u.ratio(1u8, 64u8)? {
        // Occasionally a long string, to cross the size limits.
        let len = u.int_in_range(0..=10_000usize)?;
        return Ok("x".repeat(len));
    }
    u.arbitrary()
}

pub fn number(u: &mut Unstructured) -> Result<Number> {
    Ok(match u.int_in_range(0..=2u8)? {
        0 => Number::from(u.arbitrary::<i64>()?),
        1 => Number::from(u.arbitrary::<u64>()?),
        _ => Number::from_f64(u.arbitrary::<f64>()?).unwrap_or_else(|| Number::from(0)),
    })
}

pub fn value(u: &mut Unstructured, shape: Shape) -> Result<Value> {
    let inner = value_at(u, shape, 0)?;
    let wrap = u.int_in_range(0..=shape.max_wrap)?;
    let mut v = inner;
    // Most inputs stay shallow; a deep chain only when the fuzzer asks for it.
    if u.ratio(1u8, 8u8)? {
        for _ in 0..wrap {
            let mut m = Map::new();
            m.insert("a".into(), v);
            v = Value::Object(m);
        }
    }
    Ok(v)
}

fn value_at(u: &mut Unstructured, shape: Shape, depth: usize) -> Result<Value> {
    let leaf_only = depth >= shape.max_depth;
    let choice = if leaf_only {
        u.int_in_range(0..=3u8)?
    } else {
        u.int_in_range(0..=6u8)?
    };
    Ok(match choice {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::Number(number(u)?),
        3 => Value::String(string(u, shape)?),
        4 => {
            let n = u.int_in_range(0..=4usize)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(value_at(u, shape, depth + 1)?);
            }
            Value::Array(items)
        }
        _ => Value::Object(object_at(u, shape, depth)?),
    })
}

fn object_at(u: &mut Unstructured, shape: Shape, depth: usize) -> Result<Map<String, Value>> {
    let n = u.int_in_range(0..=5usize)?;
    let mut map = Map::new();
    for _ in 0..n {
        let k = key(u)?;
        let v = value_at(u, shape, depth + 1)?;
        map.insert(k, v);
    }
    Ok(map)
}

/// An object (as metadata and templates are), possibly wrapped deep.
pub fn object(u: &mut Unstructured, shape: Shape) -> Result<Value> {
    let map = object_at(u, shape, 0)?;
    let mut v = Value::Object(map);
    if u.ratio(1u8, 8u8)? {
        let wrap = u.int_in_range(0..=shape.max_wrap)?;
        for _ in 0..wrap {
            let mut m = Map::new();
            m.insert("a".into(), v);
            v = Value::Object(m);
        }
    }
    Ok(v)
}
