//! The claims template language (`roster_domain::claims`): validation, rendering, and the claims
//! of session and JWT-template tokens, on templates built from shortcode fragments and on raw
//! JSON text.
//!
//! Invariants: nothing panics, validated or not; reserved claims never come out of a template;
//! the token's own claims (`sub`, `sid`, `iss`, `exp`, …) always win; rendering is deterministic;
//! a template without shortcodes renders to itself.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use roster_domain::claims::{
    render, session_token_claims, template_token_claims, validate, ClaimsSubject, TokenTimes,
    MAX_TEMPLATE_DEPTH, SESSION_RESERVED, TEMPLATE_RESERVED,
};
use roster_domain::metadata::depth;
use roster_domain::session::{
    Session, MAX_CLOCK_SKEW_S, MAX_TOKEN_LIFETIME_S, MIN_TOKEN_LIFETIME_S,
};
use roster_fuzz::Shape;
use serde_json::{Map, Value};

const TEMPLATE: Shape = Shape {
    max_depth: 5,
    max_wrap: 24,
    template_strings: true,
};
const METADATA: Shape = Shape {
    max_depth: 4,
    max_wrap: 4,
    template_strings: false,
};

fn opt_string(u: &mut Unstructured) -> arbitrary::Result<Option<String>> {
    if u.arbitrary()? {
        Ok(Some(roster_fuzz::string(u, METADATA)?))
    } else {
        Ok(None)
    }
}

fn subject(u: &mut Unstructured) -> arbitrary::Result<ClaimsSubject> {
    Ok(ClaimsSubject {
        id: "user_2xhFjEI5X2qWRvtV13BzSj8H6Dk".into(),
        external_id: opt_string(u)?,
        first_name: opt_string(u)?,
        last_name: opt_string(u)?,
        username: opt_string(u)?,
        image_url: "http://127.0.0.1/avatars/avatar_placeholder.svg".into(),
        has_image: u.arbitrary()?,
        primary_email_address: opt_string(u)?,
        email_verified: u.arbitrary()?,
        primary_phone_number: opt_string(u)?,
        phone_number_verified: u.arbitrary()?,
        two_factor_enabled: u.arbitrary()?,
        created_at: u.int_in_range(0..=4_000_000_000i64)?,
        updated_at: u.int_in_range(0..=4_000_000_000i64)?,
        public_metadata: roster_fuzz::object(u, METADATA)?,
        unsafe_metadata: roster_fuzz::object(u, METADATA)?,
    })
}

/// Times as the server produces them: now, and lifetimes and skews within the allowed ranges.
fn times(u: &mut Unstructured) -> arbitrary::Result<TokenTimes> {
    Ok(TokenTimes {
        iat: u.int_in_range(0..=8_000_000_000i64)?,
        lifetime: u.int_in_range(MIN_TOKEN_LIFETIME_S..=MAX_TOKEN_LIFETIME_S)?,
        allowed_clock_skew: u.int_in_range(0..=MAX_CLOCK_SKEW_S)?,
    })
}

fn has_shortcode_open(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{"),
        Value::Array(items) => items.iter().any(has_shortcode_open),
        Value::Object(m) => m.values().any(has_shortcode_open),
        _ => false,
    }
}

fn check(template: &Value, subject: &ClaimsSubject, times: &TokenTimes, azp: Option<&str>) {
    for reserved in [SESSION_RESERVED, TEMPLATE_RESERVED] {
        let verdict = validate(template, reserved);
        let out = render(template, subject, reserved);
        assert!(
            out.keys().all(|k| !reserved.contains(&k.as_str())),
            "a reserved claim came out of a template"
        );
        assert_eq!(
            out,
            render(template, subject, reserved),
            "rendering is not deterministic"
        );
        if verdict.is_ok() {
            let Value::Object(t) = template else {
                panic!("validate accepted a non-object")
            };
            assert!(out.keys().all(|k| t.contains_key(k)));
            assert!(depth(template) <= MAX_TEMPLATE_DEPTH);
            if !has_shortcode_open(template) {
                let mut expected = t.clone();
                expected.retain(|k, _| !reserved.contains(&k.as_str()));
                assert_eq!(
                    out, expected,
                    "a template without shortcodes must render to itself"
                );
            }
        }
    }

    let session = Session::new(
        "sess_2xhFjEI5X2qWRvtV13BzSj8H6Dk".into(),
        subject.id.clone(),
        "client_2xhFjEI5X2qWRvtV13BzSj8H6Dk".into(),
        times.iat * 1000,
    );
    let issuer = "http://127.0.0.1:1/fapi";
    let claims = session_token_claims(
        Some(template),
        subject,
        &session,
        issuer,
        azp,
        "jti_x",
        times,
    );
    assert_defaults(&claims, times, issuer, azp, &subject.id);
    assert_eq!(claims.get("sid"), Some(&Value::from(session.id.as_str())));
    assert_eq!(claims.get("v"), Some(&Value::from(2)));
    let claims = template_token_claims(template, subject, issuer, azp, "jti_x", times);
    assert_defaults(&claims, times, issuer, azp, &subject.id);
}

fn assert_defaults(
    claims: &Map<String, Value>,
    times: &TokenTimes,
    issuer: &str,
    azp: Option<&str>,
    sub: &str,
) {
    assert_eq!(claims.get("sub"), Some(&Value::from(sub)));
    assert_eq!(claims.get("iss"), Some(&Value::from(issuer)));
    assert_eq!(claims.get("iat"), Some(&Value::from(times.iat)));
    assert_eq!(
        claims.get("exp"),
        Some(&Value::from(times.iat + times.lifetime))
    );
    assert_eq!(
        claims.get("nbf"),
        Some(&Value::from(times.iat - times.allowed_clock_skew))
    );
    assert_eq!(claims.get("jti"), Some(&Value::from("jti_x")));
    assert_eq!(claims.get("azp").and_then(Value::as_str), azp);
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(raw_text) = u.arbitrary::<bool>() else {
        return;
    };
    let (Ok(subject), Ok(times), Ok(with_azp)) =
        (subject(&mut u), times(&mut u), u.arbitrary::<bool>())
    else {
        return;
    };
    let azp = with_azp.then_some("https://app.example.com");
    if raw_text {
        // A template as `PUT /v1/instance/session_token_claims` or the config file delivers it.
        if let Ok(template) = serde_json::from_slice::<Value>(u.take_rest()) {
            check(&template, &subject, &times, azp);
        }
        return;
    }
    if let Ok(template) = roster_fuzz::value(&mut u, TEMPLATE) {
        check(&template, &subject, &times, azp);
    }
});
