//! The three metadata tiers and the rules for writing them: deep merge (RFC 7396 per field),
//! replace, and the per-field size limit. Pure functions on `serde_json::Value`, and the stored
//! form of a tier, [`Metadata`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::DomainError;

/// Each tier's compact JSON may be at most this many bytes.
pub const METADATA_MAX_BYTES: usize = 8192;

/// How deep a metadata document may nest. JSON parsing already stops at 128 levels; this bound
/// keeps merge and size checks from recursing without limit whatever hands them a value.
pub const METADATA_MAX_DEPTH: usize = 128;

/// One of the three metadata tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetadataTier {
    Public,
    Private,
    Unsafe,
}

impl MetadataTier {
    pub const ALL: [MetadataTier; 3] = [Self::Public, Self::Private, Self::Unsafe];

    /// The request and response field name, which is also the error's `param_name`.
    pub fn param_name(self) -> &'static str {
        match self {
            Self::Public => "public_metadata",
            Self::Private => "private_metadata",
            Self::Unsafe => "unsafe_metadata",
        }
    }
}

/// A tier as a user holds it: the compact JSON text of an object, as stored. Reading a user
/// renders the text as it is; only the rules that need the value (merge, claims) parse it. Reads
/// are most of the traffic, and parsing three tiers into maps and writing them out again was
/// about a quarter of the work of `GET /v1/users/{id}`.
#[derive(Clone)]
pub struct Metadata(Box<RawValue>);

impl Metadata {
    /// The stored form of a checked tier value. Serialising a `Value` cannot fail; if it ever
    /// did, it counts as over the limit, as in [`compact_size`].
    pub fn from_value(tier: MetadataTier, value: &Value) -> Result<Metadata, DomainError> {
        serde_json::value::to_raw_value(value)
            .map(Metadata)
            .map_err(|_| DomainError::MetadataTooLarge {
                param: tier.param_name(),
            })
    }

    /// The parsed value. The text is JSON that serde_json accepted, with the nesting limit it
    /// parses with, so it always parses; if it ever did not, the tier reads as empty.
    pub fn value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or_else(|_| Value::Object(Map::new()))
    }

    /// The compact JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }
}

/// Equal texts: every tier is written by serde_json from a value, compactly and in key order, so
/// equal values have equal texts.
impl PartialEq for Metadata {
    fn eq(&self, other: &Metadata) -> bool {
        self.json() == other.json()
    }
}

/// Consistent with `PartialEq`: the text.
impl std::hash::Hash for Metadata {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.json().hash(state);
    }
}

/// For tests and rules that hold a value: compares parsed values.
impl PartialEq<Value> for Metadata {
    fn eq(&self, other: &Value) -> bool {
        self.value() == *other
    }
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.json())
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Metadata, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Metadata)
    }
}

/// A metadata write as sent by a client: for each tier, the object to merge or to store, if sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetadataWrite {
    pub public: Option<Value>,
    pub private: Option<Value>,
    pub unsafe_: Option<Value>,
}

impl MetadataWrite {
    pub fn get(&self, tier: MetadataTier) -> Option<&Value> {
        match tier {
            MetadataTier::Public => self.public.as_ref(),
            MetadataTier::Private => self.private.as_ref(),
            MetadataTier::Unsafe => self.unsafe_.as_ref(),
        }
    }

    pub fn set(&mut self, tier: MetadataTier, value: Value) {
        match tier {
            MetadataTier::Public => self.public = Some(value),
            MetadataTier::Private => self.private = Some(value),
            MetadataTier::Unsafe => self.unsafe_ = Some(value),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.public.is_none() && self.private.is_none() && self.unsafe_.is_none()
    }
}

/// Checks a client-sent tier value: it must be a JSON object, or `null` (which each write path
/// gives its own meaning). Anything else is `form_param_value_invalid`.
pub fn validate_tier_value(tier: MetadataTier, value: &Value) -> Result<(), DomainError> {
    match value {
        Value::Object(_) | Value::Null => check_depth(tier, value),
        _ => Err(DomainError::MetadataNotObject {
            param: tier.param_name(),
        }),
    }
}

fn check_depth(tier: MetadataTier, value: &Value) -> Result<(), DomainError> {
    if depth(value) > METADATA_MAX_DEPTH {
        return Err(DomainError::MetadataTooDeep {
            param: tier.param_name(),
        });
    }
    Ok(())
}

/// Nesting depth of a value: a scalar is 0, `{}` is 1. Iterative, so any input is safe.
pub fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Object(map) => {
                deepest = deepest.max(d + 1);
                stack.extend(map.values().map(|child| (child, d + 1)));
            }
            Value::Array(items) => {
                deepest = deepest.max(d + 1);
                stack.extend(items.iter().map(|child| (child, d + 1)));
            }
            _ => deepest = deepest.max(d),
        }
    }
    deepest
}

/// RFC 7396 JSON Merge Patch: objects merge recursively, `null` removes a key at any depth, any
/// other value (scalar, array, or an object over a non-object) replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target_map) = target {
        for (key, patch_value) in patch_map {
            if patch_value.is_null() {
                target_map.remove(key);
            } else {
                let slot = target_map.entry(key.clone()).or_insert(Value::Null);
                merge_patch(slot, patch_value);
            }
        }
    }
}

/// Size of a tier as measured for the limit: the byte length of its compact JSON.
pub fn compact_size(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        // Serialising a Value cannot fail; if it ever did, count it as over the limit.
        Err(_) => usize::MAX,
    }
}

/// The per-field limit, checked on the value that would be stored.
pub fn check_size(tier: MetadataTier, value: &Value) -> Result<(), DomainError> {
    if compact_size(value) > METADATA_MAX_BYTES {
        return Err(DomainError::MetadataTooLarge {
            param: tier.param_name(),
        });
    }
    Ok(())
}

/// The stored form of a tier value sent on create or replace: `null` clears to `{}`.
///
/// Clerk documents that `PUT` with `null` stores a JSON null, but its own Python SDK cannot parse a
/// user whose metadata is null; Roster stores `{}` instead so every official client keeps working.
pub fn normalize_replacement(value: &Value) -> Value {
    if value.is_null() {
        Value::Object(Map::new())
    } else {
        value.clone()
    }
}

/// The value a merge produces, checked against the limit. A top-level `null` patch is a no-op.
pub fn merged(tier: MetadataTier, current: &Value, patch: &Value) -> Result<Value, DomainError> {
    validate_tier_value(tier, patch)?;
    let mut next = current.clone();
    if !patch.is_null() {
        merge_patch(&mut next, patch);
    }
    check_size(tier, &next)?;
    Ok(next)
}

/// The value a replace produces, checked against the limit.
pub fn replaced(tier: MetadataTier, patch: &Value) -> Result<Value, DomainError> {
    validate_tier_value(tier, patch)?;
    let next = normalize_replacement(patch);
    check_size(tier, &next)?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn merge_recurses_into_objects_and_keeps_other_keys() {
        let mut target = json!({"a": {"b": 1, "c": 2}, "d": 3});
        merge_patch(&mut target, &json!({"a": {"b": 10}}));
        assert_eq!(target, json!({"a": {"b": 10, "c": 2}, "d": 3}));
    }

    #[test]
    fn merge_null_removes_keys_at_any_depth() {
        let mut target = json!({"a": {"b": {"c": 1, "d": 2}}, "e": 1});
        merge_patch(&mut target, &json!({"a": {"b": {"c": null}}, "e": null}));
        assert_eq!(target, json!({"a": {"b": {"d": 2}}}));
    }

    #[test]
    fn merge_null_for_missing_key_is_harmless() {
        let mut target = json!({"a": 1});
        merge_patch(&mut target, &json!({"zz": null, "y": {"q": null}}));
        assert_eq!(target, json!({"a": 1, "y": {}}));
    }

    #[test]
    fn merge_replaces_arrays_and_scalars() {
        let mut target = json!({"tags": [1, 2, 3], "n": 1, "o": {"x": 1}});
        merge_patch(&mut target, &json!({"tags": [4], "n": "one", "o": 5}));
        assert_eq!(target, json!({"tags": [4], "n": "one", "o": 5}));
    }

    #[test]
    fn merge_object_over_scalar_replaces_it() {
        let mut target = json!({"a": 1});
        merge_patch(&mut target, &json!({"a": {"b": null, "c": 2}}));
        assert_eq!(target, json!({"a": {"c": 2}}));
    }

    #[test]
    fn keys_are_kept_verbatim() {
        let mut target = json!({"camelCase": 1});
        merge_patch(
            &mut target,
            &json!({"snake_case": 2, "ÜnïcødéKey": {"日本": 3}}),
        );
        assert_eq!(
            target,
            json!({"camelCase": 1, "snake_case": 2, "ÜnïcødéKey": {"日本": 3}})
        );
    }

    #[test]
    fn merged_top_level_null_is_a_no_op() {
        let current = json!({"a": 1});
        assert_eq!(
            merged(MetadataTier::Public, &current, &Value::Null).ok(),
            Some(current)
        );
    }

    #[test]
    fn non_objects_are_rejected_with_the_param_name() {
        for bad in [json!("x"), json!([1]), json!(1), json!(true)] {
            let err = merged(MetadataTier::Unsafe, &json!({}), &bad);
            assert_eq!(
                err,
                Err(DomainError::MetadataNotObject {
                    param: "unsafe_metadata"
                })
            );
            assert!(replaced(MetadataTier::Private, &bad).is_err());
        }
    }

    #[test]
    fn size_limit_is_in_bytes_of_compact_json() {
        // {"k":"…"} is 8 bytes of framing around the string.
        let exact = json!({"k": "a".repeat(METADATA_MAX_BYTES - 8)});
        assert_eq!(compact_size(&exact), METADATA_MAX_BYTES);
        assert!(check_size(MetadataTier::Public, &exact).is_ok());
        let over = json!({"k": "a".repeat(METADATA_MAX_BYTES - 7)});
        assert_eq!(
            check_size(MetadataTier::Public, &over),
            Err(DomainError::MetadataTooLarge {
                param: "public_metadata"
            })
        );
        // Multi-byte characters count as bytes, not characters: 2 bytes each.
        let wide = json!({"k": "é".repeat(METADATA_MAX_BYTES / 2)});
        assert!(check_size(MetadataTier::Public, &wide).is_err());
    }

    #[test]
    fn size_is_checked_after_merging() {
        let current = json!({"a": "x".repeat(5000)});
        let patch = json!({"b": "y".repeat(5000)});
        assert!(merged(MetadataTier::Private, &current, &patch).is_err());
        // The same patch fits once the first key is removed in the same merge.
        let patch = json!({"a": null, "b": "y".repeat(5000)});
        assert!(merged(MetadataTier::Private, &current, &patch).is_ok());
    }

    #[test]
    fn replace_null_stores_an_empty_object() {
        assert_eq!(
            replaced(MetadataTier::Public, &Value::Null).ok(),
            Some(json!({}))
        );
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        let mut deep = json!({});
        for _ in 0..1_000 {
            deep = json!({ "a": deep });
        }
        assert!(depth(&deep) > METADATA_MAX_DEPTH);
        assert_eq!(
            validate_tier_value(MetadataTier::Public, &deep),
            Err(DomainError::MetadataTooDeep {
                param: "public_metadata"
            })
        );
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-c]{0,3}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Objects only, so properties about object patches never reject their inputs (a
    /// `prop_assume!` on `arb_json` rejects most cases and aborts the run at random).
    fn arb_object() -> impl Strategy<Value = Value> {
        prop::collection::btree_map("[a-d]", arb_json(), 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    fn strip_object_nulls(v: &mut Value) {
        if let Value::Object(m) = v {
            m.retain(|_, c| !c.is_null());
            m.values_mut().for_each(strip_object_nulls);
        }
    }

    fn contains_null_in_objects(v: &Value) -> bool {
        match v {
            Value::Object(m) => m
                .values()
                .any(|c| c.is_null() || contains_null_in_objects(c)),
            _ => false,
        }
    }

    proptest! {
        #[test]
        fn merge_is_idempotent(target in arb_json(), patch in arb_json()) {
            let mut once = target.clone();
            merge_patch(&mut once, &patch);
            let mut twice = once.clone();
            merge_patch(&mut twice, &patch);
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn merge_result_never_holds_null_members_from_an_object_patch(
            target in arb_json(), patch in arb_object()
        ) {
            // Nulls in the patch only ever delete; they are never stored. (Nulls inside arrays
            // are values and stay.) A stored target never holds object nulls, so strip them.
            let mut out = target.clone();
            strip_object_nulls(&mut out);
            merge_patch(&mut out, &patch);
            prop_assert!(!contains_null_in_objects(&out));
        }

        #[test]
        fn merging_into_empty_equals_patch_without_nulls(patch in arb_object()) {
            let mut out = json!({});
            merge_patch(&mut out, &patch);
            let mut again = json!({});
            merge_patch(&mut again, &out);
            prop_assert_eq!(&out, &again);
        }

        #[test]
        fn keys_not_in_the_patch_are_untouched(target in arb_object(), patch in arb_object()) {
            let mut out = target.clone();
            merge_patch(&mut out, &patch);
            let (Value::Object(t), Value::Object(p), Value::Object(o)) = (&target, &patch, &out)
            else { unreachable!() };
            for (k, v) in t {
                if !p.contains_key(k) {
                    prop_assert_eq!(o.get(k), Some(v));
                }
            }
        }

        #[test]
        fn a_stored_tier_reads_and_writes_back_as_it_was(
            v in arb_object(), key in "[a-z\"\\\\\u{1}é]{0,6}"
        ) {
            // Keys with quotes, backslashes, control characters and non-ASCII, kept in order.
            let mut v = v;
            if let Value::Object(m) = &mut v {
                m.insert(key, json!("\u{2028}/\n"));
            }
            let stored = Metadata::from_value(MetadataTier::Public, &v).unwrap();
            prop_assert_eq!(stored.value(), v.clone());
            prop_assert_eq!(stored.json(), serde_json::to_string(&v).unwrap());
            // Through a document and back, byte for byte, and rendered as the value renders.
            let doc = serde_json::to_string(&json!({"m": &stored})).unwrap();
            prop_assert_eq!(&doc, &serde_json::to_string(&json!({"m": &v})).unwrap());
            let back: std::collections::BTreeMap<String, Metadata> =
                serde_json::from_str(&doc).unwrap();
            prop_assert_eq!(&back["m"], &stored);
            prop_assert_eq!(
                serde_json::to_vec(&back["m"]).unwrap(),
                serde_json::to_vec(&v).unwrap()
            );
        }

        #[test]
        fn compact_size_matches_serialization(v in arb_json()) {
            prop_assert_eq!(compact_size(&v), serde_json::to_vec(&v).map(|b| b.len()).unwrap_or(0));
        }
    }
}
