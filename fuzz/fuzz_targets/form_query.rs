//! Request decoding at the edge (`roster-server/src/body.rs`): form bodies as the Frontend API
//! gets them from clerk-js, query strings with repeated keys, `_method` overrides, JSON object
//! bodies and the typed field getters the handlers call, and the Frontend API's stringified
//! `unsafe_metadata` (through the public pieces it is built from, since the FAPI helper is
//! private to `roster_server::fapi`).
//!
//! `body.rs` is compiled into this target as a module, beside a stand-in for the one
//! crate-internal type it names (`crate::error::ApiError`): depending on `roster-server` itself
//! would build the whole server with instrumentation, far too slow for a bounded run. If
//! `body.rs` starts naming another `ApiError` variant, this target stops compiling and says so.
//!
//! Invariants: nothing panics; a form and the same text as a query string decode to the same
//! pairs (a repeated key becomes an array holding every value in order); only POST is ever
//! overridden, and only to PATCH, PUT or DELETE; `parse_object` accepts exactly JSON objects and
//! `null`; every field getter either yields the promised type or names the field in its error.
#![no_main]

use axum::http::Method;
use libfuzzer_sys::fuzz_target;
use roster_domain::metadata::{validate_tier_value, MetadataTier};
use roster_domain::DomainError;
use serde_json::{Map, Value};

/// Stand-in for `roster_server::error::ApiError`: the variants `body.rs` produces.
mod error {
    #[derive(Debug)]
    pub enum ApiError {
        Domain(roster_domain::DomainError),
        BodyInvalid,
        BodyTooLarge(#[allow(dead_code)] usize),
        BodyTimeout(#[allow(dead_code)] u64),
        QueryMalformed,
        UnsupportedContentType(#[allow(dead_code)] String),
    }

    pub type ApiResult<T> = Result<T, ApiError>;

    impl From<roster_domain::DomainError> for ApiError {
        fn from(e: roster_domain::DomainError) -> Self {
            ApiError::Domain(e)
        }
    }

    /// `body.rs`'s extractors reject with an `ApiError`; the fuzz target never renders one.
    impl axum::response::IntoResponse for ApiError {
        fn into_response(self) -> axum::response::Response {
            axum::http::StatusCode::BAD_REQUEST.into_response()
        }
    }
}

#[allow(dead_code)]
#[path = "../../crates/roster-server/src/body.rs"]
mod body;

use body::{overridden_method, parse_form, parse_object, query_pairs, Fields};
use error::ApiError;

/// Query pairs grouped by key (a repeated key becomes an array, in order) equal the form.
fn assert_groups_like_the_form(pairs: &[(String, String)], form: &Map<String, Value>) {
    assert_eq!(
        pairs.len(),
        form.values()
            .map(|v| v.as_array().map_or(1, Vec::len))
            .sum::<usize>()
    );
    let mut grouped: Map<String, Value> = Map::new();
    for (k, v) in pairs {
        match grouped.get_mut(k) {
            None => {
                grouped.insert(k.clone(), Value::String(v.clone()));
            }
            Some(Value::Array(items)) => items.push(Value::String(v.clone())),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(v.clone())]);
            }
        }
    }
    assert_eq!(&grouped, form);
}

fn check_form_and_query(data: &[u8]) {
    let form = parse_form(data);
    let pairs_from_form: usize = form
        .values()
        .map(|v| match v {
            Value::String(_) => 1,
            Value::Array(items) => {
                assert!(items.len() >= 2, "a lone value must stay a string");
                assert!(items.iter().all(Value::is_string));
                items.len()
            }
            other => panic!("form values are strings or arrays of strings, got {other}"),
        })
        .sum();
    assert_eq!(pairs_from_form, form_urlencoded::parse(data).count());

    // The same text as a query string decodes to the same pairs, grouped the same way.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A `%` that starts no escape makes the query malformed; otherwise it decodes like the form.
    let broken_escape = text.match_indices('%').any(|(i, _)| {
        text.as_bytes()
            .get(i + 1..i + 3)
            .is_none_or(|hex| !hex.iter().all(u8::is_ascii_hexdigit))
    });
    match query_pairs(Some(text)) {
        Ok(pairs) => {
            assert!(!broken_escape, "a broken escape was accepted: {text:?}");
            assert_groups_like_the_form(&pairs, &form);
        }
        Err(ApiError::QueryMalformed) => {
            assert!(broken_escape, "a well-formed query was refused: {text:?}")
        }
        Err(other) => panic!("query_pairs failed with {other:?}"),
    }

    for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
        match overridden_method(&method, Some(text)) {
            None => {}
            Some(m) => {
                assert_eq!(method, Method::POST, "only POST may be overridden");
                assert!([Method::PATCH, Method::PUT, Method::DELETE].contains(&m));
            }
        }
    }
}

/// The typed getters on a decoded body: each either yields its type or names the field.
fn check_fields(map: Map<String, Value>) {
    let names: Vec<String> = map.keys().cloned().collect();
    let allowed: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .take(names.len() / 2 + 1)
        .collect();
    let fields = match Fields::new(map.clone(), &allowed) {
        Ok(f) => f,
        Err(ApiError::Domain(DomainError::UnknownParam { param })) => {
            assert!(!allowed.contains(&param.as_str()));
            assert!(map.contains_key(&param));
            return;
        }
        Err(other) => panic!("Fields::new failed with {other:?}"),
    };
    let mut fields = fields;
    for (i, name) in allowed.iter().enumerate() {
        let original = map.get(*name).cloned();
        let result: Result<(), ApiError> = match i % 5 {
            0 => fields.string(name).map(drop),
            1 => fields.bool(name).map(drop),
            2 => fields.nullable_int(name).map(drop),
            3 => fields.string_list(name, 100).map(drop),
            _ => fields.nullable_string(name).map(drop),
        };
        if let Err(e) = result {
            match e {
                ApiError::Domain(
                    DomainError::WrongType { param, .. } | DomainError::TooManyItems { param, .. },
                ) => assert_eq!(&param, name),
                other => panic!("unexpected getter error {other:?} for {original:?}"),
            }
        }
    }
    let mut fields = match Fields::new(
        map,
        &["public_metadata", "private_metadata", "unsafe_metadata"],
    ) {
        Ok(f) => f,
        Err(_) => return,
    };
    if let Ok(write) = fields.metadata_write() {
        for tier in MetadataTier::ALL {
            if let Some(v) = write.get(tier) {
                assert!(validate_tier_value(tier, v).is_ok());
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_form_and_query(data);

    match parse_object(data) {
        Ok(map) => {
            let value: Value =
                serde_json::from_slice(data).expect("parse_object accepted invalid JSON");
            assert!(value.is_object() || value.is_null());
            if let Value::Object(m) = &value {
                assert_eq!(m, &map);
            }
            check_fields(map);
        }
        Err(ApiError::BodyInvalid) => {
            let value = serde_json::from_slice::<Value>(data);
            assert!(!matches!(value, Ok(Value::Object(_) | Value::Null)));
        }
        Err(other) => panic!("parse_object failed with {other:?}"),
    }

    // A form body's `unsafe_metadata` is a stringified JSON object (clerk-js): decode it the way
    // the Frontend API does, then the tier rules must hold for whatever came out.
    let form = parse_form(data);
    check_fields(form.clone());
    if let Some(Value::String(s)) = form.get("unsafe_metadata") {
        if let Ok(v) = serde_json::from_str::<Value>(s) {
            let _ = validate_tier_value(MetadataTier::Unsafe, &v);
        }
    }
});
