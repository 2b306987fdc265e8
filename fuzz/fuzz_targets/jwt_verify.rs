//! Token verification in the SDK (`roster_sdk::Verifier::from_jwks` + `verify`).
//!
//! Invariants: nothing panics, whatever the token, the JWKS or the claims; a token that was not
//! signed by the key (arbitrary text, or a well-formed JWT with arbitrary header, payload and
//! signature) is always refused; a genuinely signed token is accepted only when its claims say it
//! should be (RS256, a known kid, `sub`, unexpired, not before `nbf`, not issued in the future).
#![no_main]

use std::sync::OnceLock;

use arbitrary::Unstructured;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use roster_fuzz::Shape;
use roster_proto::JwksJson;
use roster_sdk::{SessionClaims, Verifier};
use serde_json::Value;

const KID: &str = "ins_doc_example";
const JWKS: &str = include_str!("../../crates/roster-sdk/testdata/jwks.json");
const PEM: &[u8] = include_bytes!("../../crates/roster-sdk/testdata/doc-signing-key.pem");
const CLAIMS: Shape = Shape {
    max_depth: 3,
    max_wrap: 4,
    template_strings: false,
};

struct Fixture {
    runtime: tokio::runtime::Runtime,
    verifier: Verifier,
    key: EncodingKey,
    /// A token the fixture's key signed, valid for a long time.
    good_token: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let jwks: JwksJson = serde_json::from_str(JWKS).expect("testdata jwks");
        let key = EncodingKey::from_rsa_pem(PEM).expect("testdata key");
        let now = now_s();
        let good_token = sign(
            &key,
            KID,
            &serde_json::json!({"sub": "user_1", "iss": "i", "iat": now, "exp": now + 3600}),
        );
        Fixture {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime"),
            verifier: Verifier::from_jwks(&jwks),
            key,
            good_token,
        }
    })
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn sign(key: &EncodingKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

fn b64(bytes: &[u8]) -> String {
    // base64url without padding, by hand: the fuzz crate need not pull in a base64 crate.
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn verify(verifier: &Verifier, token: &str) -> Result<SessionClaims, roster_sdk::VerifyError> {
    fixture()
        .runtime
        .block_on(verifier.verify::<serde_json::Map<String, Value>>(token))
}

const MARGIN_S: i64 = 60;

/// Claims a verifier must refuse whatever else they hold: no string `sub`, or no `exp`, or an
/// `exp` well in the past.
fn should_be_refused(claims: &Value, now: i64) -> bool {
    let sub_ok = claims.get("sub").is_some_and(Value::is_string);
    let exp = claims.get("exp").and_then(Value::as_f64);
    !sub_ok || exp.is_none_or(|exp| exp < (now - MARGIN_S) as f64)
}

/// Claims that fit `SessionClaims` and every time check with room to spare.
fn plainly_valid(claims: &Value, now: i64) -> bool {
    let int = |k: &str| claims.get(k).and_then(Value::as_i64);
    let optional_string = |k: &str| claims.get(k).is_none_or(Value::is_string);
    claims.get("sub").is_some_and(Value::is_string)
        && claims.get("iss").is_some_and(Value::is_string)
        && optional_string("sid")
        && optional_string("azp")
        && int("exp").is_some_and(|exp| exp > now + MARGIN_S)
        && int("iat").is_some_and(|iat| iat < now - MARGIN_S)
        && claims
            .get("nbf")
            .is_none_or(|_| int("nbf").is_some_and(|nbf| (0..now - MARGIN_S).contains(&nbf)))
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let mut u = Unstructured::new(data);
    let Ok(mode) = u.int_in_range(0..=3u8) else {
        return;
    };
    match mode {
        // Arbitrary text as a token.
        0 => {
            let token = String::from_utf8_lossy(u.take_rest());
            assert!(
                verify(&fx.verifier, &token).is_err(),
                "accepted arbitrary text: {token:?}"
            );
        }
        // A JWT-shaped token with an arbitrary header, payload and signature.
        1 => {
            let header = if u.arbitrary().unwrap_or(false) {
                format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{KID}"}}"#)
            } else {
                u.arbitrary::<String>().unwrap_or_default()
            };
            let payload = roster_fuzz::value(&mut u, CLAIMS).unwrap_or(Value::Null);
            let signature: Vec<u8> = u.arbitrary().unwrap_or_default();
            let token = format!(
                "{}.{}.{}",
                b64(header.as_bytes()),
                b64(payload.to_string().as_bytes()),
                b64(&signature)
            );
            assert!(
                verify(&fx.verifier, &token).is_err(),
                "accepted a forged token: {token}"
            );
        }
        // Claims genuinely signed by the key: accepted only when they should be.
        2 => {
            let now = now_s();
            let Ok(mut claims) = roster_fuzz::object(&mut u, CLAIMS) else {
                return;
            };
            if let Value::Object(m) = &mut claims {
                // Mostly plausible times, so that acceptance is reachable.
                for k in ["iat", "nbf", "exp"] {
                    if u.ratio(3u8, 4u8).unwrap_or(false) {
                        let offset = u.int_in_range(-7200i64..=7200).unwrap_or(0);
                        m.insert(k.into(), Value::from(now + offset));
                    }
                }
                if u.ratio(3u8, 4u8).unwrap_or(false) {
                    m.insert("sub".into(), Value::from("user_1"));
                }
                if u.ratio(3u8, 4u8).unwrap_or(false) {
                    m.insert("iss".into(), Value::from("https://roster.example.com/fapi"));
                }
            }
            let kid = if u.ratio(7u8, 8u8).unwrap_or(true) {
                KID.to_owned()
            } else {
                u.arbitrary().unwrap_or_default()
            };
            let token = sign(&fx.key, &kid, &claims);
            let result = verify(&fx.verifier, &token);
            if kid != KID {
                assert!(result.is_err(), "accepted an unknown kid");
                return;
            }
            if let Ok(verified) = &result {
                assert_eq!(Some(&Value::from(verified.sub.as_str())), claims.get("sub"));
                assert_eq!(Some(&Value::from(verified.exp)), claims.get("exp"));
            }
            if should_be_refused(&claims, now) {
                assert!(result.is_err(), "accepted {claims}");
            } else if plainly_valid(&claims, now) {
                assert!(result.is_ok(), "refused {claims}: {result:?}");
            }
        }
        // An arbitrary JWKS: building the verifier and checking a good token never panics, and
        // the token passes only if the JWKS holds the real key under its kid.
        _ => {
            let text = u.take_rest();
            let Ok(jwks) = serde_json::from_slice::<JwksJson>(text) else {
                return;
            };
            let verifier = Verifier::from_jwks(&jwks);
            let real: JwksJson = serde_json::from_str(JWKS).expect("testdata jwks");
            let has_real = jwks.keys.iter().any(|k| {
                k.kid == KID && k.kty == "RSA" && real.keys.iter().any(|r| r.n == k.n && r.e == k.e)
            });
            let result = verify(&verifier, &fx.good_token);
            if !has_real && result.is_ok() {
                // Another encoding of the same modulus (leading zeros) is the only way to pass.
                let k = jwks.keys.iter().find(|k| k.kid == KID);
                panic!("accepted with a JWKS that lacks the key: {k:?}");
            }
        }
    }
});
