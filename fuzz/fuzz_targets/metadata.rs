//! Metadata merge, replace and limits (`roster_domain::metadata`) on arbitrary values, both built
//! structurally and parsed from raw JSON text as a request body would be.
//!
//! Invariants: nothing panics; an accepted merge or replace stays within the size limit and the
//! depth bound; a refused one is refused for a reason that holds; merging is idempotent; keys the
//! patch does not name are untouched; `depth` and `compact_size` agree with serde_json.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use roster_domain::metadata::{
    compact_size, depth, merge_patch, merged, replaced, validate_tier_value, MetadataTier,
    METADATA_MAX_BYTES, METADATA_MAX_DEPTH,
};
use roster_domain::DomainError;
use roster_fuzz::Shape;
use serde_json::Value;

const SHAPE: Shape = Shape {
    max_depth: 6,
    max_wrap: 300,
    template_strings: false,
};

fn tier(u: &mut Unstructured) -> MetadataTier {
    *u.choose(&MetadataTier::ALL)
        .unwrap_or(&MetadataTier::Public)
}

/// A stored tier: what a successful earlier write could have left behind.
fn stored(u: &mut Unstructured, t: MetadataTier) -> Value {
    let v = roster_fuzz::object(u, SHAPE).unwrap_or(Value::Null);
    replaced(t, &v).unwrap_or_else(|_| Value::Object(Default::default()))
}

fn check_validation(t: MetadataTier, v: &Value) {
    let expected_ok = matches!(v, Value::Object(_) | Value::Null) && depth(v) <= METADATA_MAX_DEPTH;
    let got = validate_tier_value(t, v);
    assert_eq!(
        got.is_ok(),
        expected_ok,
        "validate_tier_value disagrees: {got:?}"
    );
    if let Err(e) = got {
        let param = match &e {
            DomainError::MetadataNotObject { param } | DomainError::MetadataTooDeep { param } => {
                *param
            }
            other => panic!("unexpected validation error {other:?}"),
        };
        assert_eq!(param, t.param_name());
    }
}

fn check_merge(t: MetadataTier, current: &Value, patch: &Value) {
    match merged(t, current, patch) {
        Ok(next) => {
            assert!(next.is_object(), "a merge into an object stays an object");
            assert!(
                compact_size(&next) <= METADATA_MAX_BYTES,
                "accepted merge over the limit"
            );
            assert!(
                depth(&next) <= METADATA_MAX_DEPTH,
                "accepted merge over the depth bound"
            );
            assert!(depth(&next) <= depth(current).max(depth(patch)));
            // Idempotent: the same patch again changes nothing.
            let again = merged(t, &next, patch);
            assert_eq!(again.as_ref().ok(), Some(&next), "merge is not idempotent");
            // Keys the patch does not name are untouched.
            if let (Value::Object(c), Value::Object(p), Value::Object(n)) = (current, patch, &next)
            {
                for (k, v) in c {
                    if !p.contains_key(k) {
                        assert_eq!(n.get(k), Some(v));
                    }
                }
                for (k, v) in p {
                    if v.is_null() {
                        assert!(!n.contains_key(k), "a null patch member must delete");
                    }
                }
            }
        }
        Err(DomainError::MetadataTooLarge { param }) => {
            assert_eq!(param, t.param_name());
            let mut next = current.clone();
            if !patch.is_null() {
                merge_patch(&mut next, patch);
            }
            assert!(
                compact_size(&next) > METADATA_MAX_BYTES,
                "refused a merge within the limit"
            );
        }
        Err(DomainError::MetadataNotObject { .. } | DomainError::MetadataTooDeep { .. }) => {
            assert!(validate_tier_value(t, patch).is_err());
        }
        Err(other) => panic!("unexpected merge error {other:?}"),
    }
}

fn check_replace(t: MetadataTier, patch: &Value) {
    match replaced(t, patch) {
        Ok(next) => {
            assert!(next.is_object());
            assert!(compact_size(&next) <= METADATA_MAX_BYTES);
            assert!(depth(&next) <= METADATA_MAX_DEPTH);
            if !patch.is_null() {
                assert_eq!(&next, patch);
            }
        }
        Err(DomainError::MetadataTooLarge { .. }) => {
            assert!(compact_size(patch) > METADATA_MAX_BYTES)
        }
        Err(DomainError::MetadataNotObject { .. } | DomainError::MetadataTooDeep { .. }) => {
            assert!(validate_tier_value(t, patch).is_err());
        }
        Err(other) => panic!("unexpected replace error {other:?}"),
    }
}

fn check_measures(v: &Value) {
    let bytes = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX);
    assert_eq!(compact_size(v), bytes);
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(raw_text) = u.arbitrary::<bool>() else {
        return;
    };
    let t = tier(&mut u);
    if raw_text {
        // As a request body would arrive: JSON text, parsed the way the server parses it.
        let rest = u.take_rest();
        let (current_text, patch_text) = match rest.iter().position(|&b| b == 0) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (&b"{}"[..], rest),
        };
        let current = serde_json::from_slice::<Value>(current_text)
            .ok()
            .and_then(|v| replaced(t, &v).ok())
            .unwrap_or_else(|| Value::Object(Default::default()));
        let Ok(patch) = serde_json::from_slice::<Value>(patch_text) else {
            return;
        };
        check_validation(t, &patch);
        check_merge(t, &current, &patch);
        check_replace(t, &patch);
        check_measures(&patch);
        return;
    }
    let current = stored(&mut u, t);
    let Ok(patch) = roster_fuzz::value(&mut u, SHAPE) else {
        return;
    };
    check_validation(t, &patch);
    check_merge(t, &current, &patch);
    check_replace(t, &patch);
    check_measures(&patch);
    check_measures(&current);
});
