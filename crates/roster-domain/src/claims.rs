//! Claims templates: the language of Clerk's custom session claims and JWT templates.
//!
//! A template is a JSON object. Strings holding `{{ … }}` shortcodes are rendered from the user;
//! everything else is copied. A string that is exactly one shortcode keeps the value's JSON type;
//! shortcodes inside longer text are interpolated as text (`null` → `"null"`, objects as JSON).
//! An expression is `operand || operand …`; the first operand that is neither `null` nor `false`
//! wins, else the last. Operands are paths (`user.public_metadata.a.b`), `'single-quoted'`
//! strings, numbers, `true` and `false`. Unknown paths render as `null`.
//!
//! Templates read a [`ClaimsSubject`], which has no private metadata: every token ends up in a
//! browser, so `user.private_metadata` cannot be named, and templates that try are refused.

use serde_json::{Map, Value};

use crate::metadata::depth;
use crate::user::User;

/// Claims a session token sets itself; a template may not override them.
pub const SESSION_RESERVED: &[&str] = &[
    "azp",
    "exp",
    "iat",
    "iss",
    "jti",
    "nbf",
    "sid",
    "sub",
    "v",
    "fva",
    "pla",
    "fea",
    "sts",
    "o",
    "act",
    "org_id",
    "org_slug",
    "org_role",
    "org_permissions",
];
/// Claims a JWT-template token sets itself, and the two that would make it pass for a session
/// token someone else holds: `sid` (verifiers that ignore the `cat` header read it as the
/// session) and `act` (an impersonator). A template may not set them, even to a constant.
pub const TEMPLATE_RESERVED: &[&str] = &[
    "azp", "exp", "iat", "iss", "jti", "nbf", "sub", "sid", "act",
];

/// Templates nest at most this deep (they are small JSON documents).
pub const MAX_TEMPLATE_DEPTH: usize = 16;
/// And hold at most this many bytes of JSON.
pub const MAX_TEMPLATE_BYTES: usize = 8192;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("claims must be a JSON object")]
    NotObject,
    #[error("{0} is a reserved claim and cannot be set by a template")]
    Reserved(String),
    #[error("claims nest too deeply or are too large")]
    TooBig,
    #[error("user.private_metadata is not available to tokens: every token reaches the browser")]
    PrivateMetadata,
    #[error("invalid shortcode {{{{{0}}}}}")]
    BadShortcode(String),
}

/// The application's name: `{{app.name}}` in templates, `application_name` in the Frontend API's
/// environment.
pub const APPLICATION_NAME: &str = "Roster";

/// What a template can read about a user: everything but private metadata and secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimsSubject {
    pub id: String,
    pub external_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub image_url: String,
    pub has_image: bool,
    pub primary_email_address: Option<String>,
    pub email_verified: bool,
    pub primary_phone_number: Option<String>,
    pub phone_number_verified: bool,
    pub two_factor_enabled: bool,
    /// Unix seconds, like every time in a token.
    pub created_at: i64,
    pub updated_at: i64,
    pub public_metadata: Value,
    pub unsafe_metadata: Value,
}

impl ClaimsSubject {
    pub fn from_user(user: &User, image_url: &str) -> ClaimsSubject {
        let primary_email = user
            .primary_email_address_id
            .as_deref()
            .and_then(|id| user.email_addresses.iter().find(|e| e.id == id));
        let primary_phone = user
            .primary_phone_number_id
            .as_deref()
            .and_then(|id| user.phone_numbers.iter().find(|p| p.id == id));
        ClaimsSubject {
            id: user.id.clone(),
            external_id: user.external_id.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            username: user.username.clone(),
            image_url: image_url.to_owned(),
            has_image: false,
            primary_email_address: primary_email.map(|e| e.value.clone()),
            email_verified: primary_email.is_some_and(|e| e.verified),
            primary_phone_number: primary_phone.map(|p| p.value.clone()),
            phone_number_verified: primary_phone.is_some_and(|p| p.verified),
            two_factor_enabled: false,
            created_at: user.created_at / 1000,
            updated_at: user.updated_at / 1000,
            public_metadata: user.public_metadata.value(),
            unsafe_metadata: user.unsafe_metadata.value(),
        }
    }

    fn lookup(&self, path: &[&str]) -> Value {
        let opt = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
        let (field, rest) = match path {
            ["user", field, rest @ ..] => (*field, rest),
            ["app", "name"] => return Value::String(APPLICATION_NAME.to_owned()),
            _ => return Value::Null,
        };
        let metadata = match field {
            "public_metadata" => Some(&self.public_metadata),
            "unsafe_metadata" => Some(&self.unsafe_metadata),
            _ => None,
        };
        if let Some(mut value) = metadata {
            for key in rest {
                match value.get(*key) {
                    Some(next) => value = next,
                    None => return Value::Null,
                }
            }
            return value.clone();
        }
        if !rest.is_empty() {
            return Value::Null;
        }
        match field {
            "id" => Value::String(self.id.clone()),
            "external_id" => opt(&self.external_id),
            "first_name" => opt(&self.first_name),
            "last_name" => opt(&self.last_name),
            "full_name" => {
                let parts: Vec<&str> = [&self.first_name, &self.last_name]
                    .iter()
                    .filter_map(|p| p.as_deref())
                    .collect();
                if parts.is_empty() {
                    Value::Null
                } else {
                    Value::String(parts.join(" "))
                }
            }
            "username" => opt(&self.username),
            "image_url" | "profile_image_url" => Value::String(self.image_url.clone()),
            "has_image" => Value::Bool(self.has_image),
            "primary_email_address" => opt(&self.primary_email_address),
            "primary_phone_address" | "primary_phone_number" => opt(&self.primary_phone_number),
            "email_verified" => Value::Bool(self.email_verified),
            "phone_number_verified" => Value::Bool(self.phone_number_verified),
            "two_factor_enabled" => Value::Bool(self.two_factor_enabled),
            "created_at" => Value::from(self.created_at),
            "updated_at" => Value::from(self.updated_at),
            _ => Value::Null,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Path(Vec<String>),
    Literal(Value),
}

/// Parses `a || 'b' || 3` into operands.
fn parse_expression(expr: &str) -> Result<Vec<Operand>, ClaimsError> {
    let bad = || ClaimsError::BadShortcode(expr.trim().to_owned());
    let mut operands = Vec::new();
    let mut rest = expr.trim();
    loop {
        let (operand, after) = if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted.find('\'').ok_or_else(bad)?;
            (
                Operand::Literal(Value::String(quoted[..end].to_owned())),
                &quoted[end + 1..],
            )
        } else {
            let end = rest.find("||").unwrap_or(rest.len());
            let token = rest[..end].trim();
            let operand = match token {
                "" => return Err(bad()),
                "true" => Operand::Literal(Value::Bool(true)),
                "false" => Operand::Literal(Value::Bool(false)),
                "null" => Operand::Literal(Value::Null),
                t if t.starts_with(|c: char| c.is_ascii_digit() || c == '-') => {
                    let n: serde_json::Number = t.parse().map_err(|_| bad())?;
                    Operand::Literal(Value::Number(n))
                }
                t if t.chars().any(char::is_whitespace) => return Err(bad()),
                // String literals take single quotes; a double-quoted one would otherwise be
                // read as a path that names nothing, and render `null` without a word.
                t if t.starts_with('"') => return Err(bad()),
                t => Operand::Path(t.split('.').map(str::to_owned).collect()),
            };
            (operand, &rest[end..])
        };
        if let Operand::Path(p) = &operand {
            if p.iter().any(String::is_empty) {
                return Err(bad());
            }
            if p.len() >= 2 && p[0] == "user" && p[1] == "private_metadata" {
                return Err(ClaimsError::PrivateMetadata);
            }
        }
        operands.push(operand);
        let after = after.trim_start();
        if after.is_empty() {
            return Ok(operands);
        }
        rest = after.strip_prefix("||").ok_or_else(bad)?.trim_start();
    }
}

/// The `{{ … }}` shortcodes of a string: (start, end, inner expression).
fn shortcodes(s: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = s[from..].find("{{").map(|i| i + from) {
        let Some(close) = s[open + 2..].find("}}").map(|i| i + open + 2) else {
            break;
        };
        out.push((open, close + 2, &s[open + 2..close]));
        from = close + 2;
    }
    out
}

fn evaluate(operands: &[Operand], subject: &ClaimsSubject) -> Value {
    let mut last = Value::Null;
    for operand in operands {
        last = match operand {
            Operand::Literal(v) => v.clone(),
            Operand::Path(p) => {
                let path: Vec<&str> = p.iter().map(String::as_str).collect();
                subject.lookup(&path)
            }
        };
        if !matches!(last, Value::Null | Value::Bool(false)) {
            return last;
        }
    }
    last
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn render_string(s: &str, subject: &ClaimsSubject) -> Value {
    let codes = shortcodes(s);
    if let [(0, end, expr)] = codes.as_slice() {
        if *end == s.len() {
            return parse_expression(expr)
                .map(|ops| evaluate(&ops, subject))
                .unwrap_or(Value::Null);
        }
    }
    if codes.is_empty() {
        return Value::String(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut from = 0;
    for (start, end, expr) in codes {
        out.push_str(&s[from..start]);
        let value = parse_expression(expr)
            .map(|ops| evaluate(&ops, subject))
            .unwrap_or(Value::Null);
        out.push_str(&text_of(&value));
        from = end;
    }
    out.push_str(&s[from..]);
    Value::String(out)
}

fn render_value(value: &Value, subject: &ClaimsSubject, depth_left: usize) -> Value {
    if depth_left == 0 {
        return Value::Null;
    }
    match value {
        Value::String(s) => render_string(s, subject),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_value(v, subject, depth_left - 1))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_value(v, subject, depth_left - 1)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn check_strings(value: &Value) -> Result<(), ClaimsError> {
    match value {
        Value::String(s) => shortcodes(s)
            .into_iter()
            .try_for_each(|(_, _, e)| parse_expression(e).map(|_| ())),
        Value::Array(items) => items.iter().try_for_each(check_strings),
        Value::Object(map) => map.values().try_for_each(check_strings),
        _ => Ok(()),
    }
}

/// Checks a template before it is stored: an object, of bounded size, no reserved claims, every
/// shortcode well formed, no private metadata.
pub fn validate(template: &Value, reserved: &[&str]) -> Result<(), ClaimsError> {
    let Value::Object(map) = template else {
        return Err(ClaimsError::NotObject);
    };
    if depth(template) > MAX_TEMPLATE_DEPTH
        || crate::metadata::compact_size(template) > MAX_TEMPLATE_BYTES
    {
        return Err(ClaimsError::TooBig);
    }
    if let Some(key) = map.keys().find(|k| reserved.contains(&k.as_str())) {
        return Err(ClaimsError::Reserved(key.clone()));
    }
    check_strings(template)
}

/// Renders a (validated) template for a subject. Reserved keys are dropped, whatever the template.
pub fn render(template: &Value, subject: &ClaimsSubject, reserved: &[&str]) -> Map<String, Value> {
    match render_value(template, subject, MAX_TEMPLATE_DEPTH + 1) {
        Value::Object(mut map) => {
            map.retain(|k, _| !reserved.contains(&k.as_str()));
            map
        }
        _ => Map::new(),
    }
}

/// The time facts of one token, in unix seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenTimes {
    pub iat: i64,
    pub lifetime: i64,
    pub allowed_clock_skew: i64,
}

/// Claims of a session token: the rendered custom claims, then the defaults, which always win.
pub fn session_token_claims(
    custom: Option<&Value>,
    subject: &ClaimsSubject,
    session: &crate::session::Session,
    issuer: &str,
    azp: Option<&str>,
    jti: &str,
    times: &TokenTimes,
) -> Map<String, Value> {
    let mut claims = custom
        .map(|t| render(t, subject, SESSION_RESERVED))
        .unwrap_or_default();
    if let Some(azp) = azp {
        claims.insert("azp".into(), Value::from(azp));
    }
    let minutes_since_sign_in = ((times.iat * 1000 - session.created_at).max(0)) / 60_000;
    claims.insert("exp".into(), Value::from(times.iat + times.lifetime));
    claims.insert("fva".into(), serde_json::json!([minutes_since_sign_in, -1]));
    claims.insert("iat".into(), Value::from(times.iat));
    claims.insert("iss".into(), Value::from(issuer));
    claims.insert("jti".into(), Value::from(jti));
    claims.insert(
        "nbf".into(),
        Value::from(times.iat - times.allowed_clock_skew),
    );
    claims.insert("sid".into(), Value::from(session.id.as_str()));
    claims.insert("sub".into(), Value::from(session.user_id.as_str()));
    claims.insert("v".into(), Value::from(2));
    claims
}

/// Claims of a JWT-template token: no `sid` or `v`, since such tokens are not session-bound.
pub fn template_token_claims(
    template: &Value,
    subject: &ClaimsSubject,
    issuer: &str,
    azp: Option<&str>,
    jti: &str,
    times: &TokenTimes,
) -> Map<String, Value> {
    let mut claims = render(template, subject, TEMPLATE_RESERVED);
    if let Some(azp) = azp {
        claims.insert("azp".into(), Value::from(azp));
    }
    claims.insert("exp".into(), Value::from(times.iat + times.lifetime));
    claims.insert("iat".into(), Value::from(times.iat));
    claims.insert("iss".into(), Value::from(issuer));
    claims.insert("jti".into(), Value::from(jti));
    claims.insert(
        "nbf".into(),
        Value::from(times.iat - times.allowed_clock_skew),
    );
    claims.insert("sub".into(), Value::from(subject.id.as_str()));
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn subject() -> ClaimsSubject {
        ClaimsSubject {
            id: "user_1".into(),
            external_id: None,
            first_name: Some("Ada".into()),
            last_name: None,
            username: Some("ada".into()),
            image_url: "http://x/a.svg".into(),
            has_image: false,
            primary_email_address: Some("ada@example.com".into()),
            email_verified: true,
            primary_phone_number: None,
            phone_number_verified: false,
            two_factor_enabled: false,
            created_at: 1_700_000_000,
            updated_at: 1_700_000_001,
            public_metadata: json!({"role": "admin", "tags": ["a", "b"], "nested": {"deep": {"x": 1}}, "off": false}),
            unsafe_metadata: json!({"age": 36}),
        }
    }

    fn render_one(template: Value) -> Value {
        Value::Object(render(&template, &subject(), SESSION_RESERVED))
    }

    #[test]
    fn lone_shortcodes_keep_their_type() {
        let out = render_one(json!({
            "meta": "{{user.public_metadata}}",
            "tags": "{{user.public_metadata.tags}}",
            "x": "{{ user.public_metadata.nested.deep.x }}",
            "created": "{{user.created_at}}",
            "verified": "{{user.email_verified}}",
            "email": "{{user.primary_email_address}}",
        }));
        assert_eq!(out["meta"]["role"], "admin");
        assert_eq!(out["tags"], json!(["a", "b"]));
        assert_eq!(out["x"], 1);
        assert_eq!(out["created"], 1_700_000_000);
        assert_eq!(out["verified"], true);
        assert_eq!(out["email"], "ada@example.com");
    }

    #[test]
    fn interpolation_makes_strings() {
        let out = render_one(json!({
            "greeting": "hi {{user.first_name}}!",
            "names": "{{user.last_name}} {{user.first_name}}",
            "obj": "m={{user.unsafe_metadata}}",
        }));
        assert_eq!(out["greeting"], "hi Ada!");
        assert_eq!(out["names"], "null Ada");
        assert_eq!(out["obj"], "m={\"age\":36}");
    }

    #[test]
    fn fallbacks_and_missing_paths() {
        let out = render_one(json!({
            "plan": "{{user.public_metadata.plan || 'free'}}",
            "age": "{{user.public_metadata.age || user.unsafe_metadata.age || 30}}",
            "off": "{{user.public_metadata.off || 'on'}}",
            "all_null": "{{user.last_name || user.public_metadata.nope}}",
            "missing": "{{user.i_dont_exist}}",
            "other_scope": "{{org.name}}",
            "full": "{{user.full_name}}",
            "static": [1, {"k": "{{user.username}}"}],
            "num": 5,
        }));
        assert_eq!(out["plan"], "free");
        assert_eq!(out["age"], 36);
        assert_eq!(out["off"], "on");
        assert_eq!(out["all_null"], Value::Null);
        assert_eq!(out["missing"], Value::Null);
        assert!(
            out.as_object().is_some_and(|m| m.contains_key("missing")),
            "the claim is kept"
        );
        assert_eq!(out["other_scope"], Value::Null);
        assert_eq!(out["full"], "Ada");
        assert_eq!(out["static"], json!([1, {"k": "ada"}]));
        assert_eq!(out["num"], 5);
    }

    #[test]
    fn validation() {
        assert_eq!(
            validate(&json!([1]), SESSION_RESERVED),
            Err(ClaimsError::NotObject)
        );
        assert_eq!(
            validate(&json!({"sub": "x"}), SESSION_RESERVED),
            Err(ClaimsError::Reserved("sub".into()))
        );
        assert_eq!(
            validate(&json!({"sid": "x"}), SESSION_RESERVED),
            Err(ClaimsError::Reserved("sid".into()))
        );
        for claim in ["sid", "act", "azp"] {
            assert_eq!(
                validate(&json!({ claim: "x" }), TEMPLATE_RESERVED),
                Err(ClaimsError::Reserved(claim.into()))
            );
        }
        // Session-only claims stay a template's to set.
        assert!(validate(
            &json!({"v": 1, "fva": [0, 0], "org_id": "x"}),
            TEMPLATE_RESERVED
        )
        .is_ok());
        assert_eq!(
            validate(&json!({"p": "{{user.private_metadata}}"}), SESSION_RESERVED),
            Err(ClaimsError::PrivateMetadata)
        );
        assert_eq!(
            validate(
                &json!({"p": {"q": ["{{ user.public_metadata.a || user.private_metadata.stripe }}"]}}),
                SESSION_RESERVED
            ),
            Err(ClaimsError::PrivateMetadata)
        );
        assert!(validate(&json!({"p": "{{ 'unterminated }}"}), SESSION_RESERVED).is_err());
        assert!(validate(&json!({"p": "{{ a b }}"}), SESSION_RESERVED).is_err());
        assert!(validate(&json!({"p": "{{ a || }}"}), SESSION_RESERVED).is_err());
        assert_eq!(
            validate(&json!({"p": "{{ \"x\" }}"}), SESSION_RESERVED),
            Err(ClaimsError::BadShortcode("\"x\"".into()))
        );
        assert!(validate(
            &json!({"p": "{{ user.first_name || \"x\" }}"}),
            SESSION_RESERVED
        )
        .is_err());
        assert!(validate(
            &json!({"p": "{{user.public_metadata || 'x' || 3 || true}}"}),
            SESSION_RESERVED
        )
        .is_ok());
        let mut deep = json!("x");
        for _ in 0..20 {
            deep = json!({ "a": deep });
        }
        assert_eq!(validate(&deep, SESSION_RESERVED), Err(ClaimsError::TooBig));
    }

    #[test]
    fn token_claims_put_defaults_over_custom_ones() {
        let session =
            crate::session::Session::new("sess_1".into(), "user_1".into(), "client_1".into(), 0);
        let times = TokenTimes {
            iat: 600,
            lifetime: 60,
            allowed_clock_skew: 5,
        };
        let custom = json!({"role": "{{user.public_metadata.role}}"});
        let claims = session_token_claims(
            Some(&custom),
            &subject(),
            &session,
            "http://iss",
            None,
            "j1",
            &times,
        );
        assert_eq!(claims["role"], "admin");
        assert_eq!(claims["exp"], 660);
        assert_eq!(claims["nbf"], 595);
        assert_eq!(claims["fva"], json!([10, -1]));
        assert_eq!(claims["v"], 2);
        assert!(!claims.contains_key("azp"));
        let t = template_token_claims(
            &json!({"sid": "kept", "x": 1}),
            &subject(),
            "http://iss",
            Some("http://app"),
            "j2",
            &times,
        );
        // A template stored before `sid` was reserved still mints none.
        assert!(!t.contains_key("sid"));
        assert_eq!(t["x"], 1);
        assert_eq!(t["azp"], "http://app");
        assert_eq!(t["sub"], "user_1");
        assert!(!t.contains_key("v"));
    }

    #[test]
    fn app_name_is_the_application_name() {
        let template =
            json!({"app": "{{app.name}}", "greeting": "{{app.name}} says hi", "no": "{{app.id}}"});
        assert_eq!(validate(&template, SESSION_RESERVED), Ok(()));
        let out = render(&template, &subject(), SESSION_RESERVED);
        assert_eq!(out["app"], APPLICATION_NAME);
        assert_eq!(out["greeting"], "Roster says hi");
        assert_eq!(out["no"], Value::Null);
    }

    #[test]
    fn reserved_keys_never_render() {
        let out = render(
            &json!({"sub": "evil", "ok": 1}),
            &subject(),
            SESSION_RESERVED,
        );
        assert!(!out.contains_key("sub"));
        assert_eq!(out["ok"], 1);
    }

    proptest! {
        #[test]
        fn rendering_never_panics_and_keeps_keys(template in proptest::collection::btree_map(
            "[a-z]{1,6}",
            prop_oneof![
                "[ -~]{0,30}".prop_map(Value::String),
                "(\\{\\{)?[ a-z._|']{0,24}(\\}\\})?".prop_map(Value::String),
                any::<i64>().prop_map(Value::from),
            ],
            0..8,
        )) {
            let template = Value::Object(template.into_iter().collect());
            let out = render(&template, &subject(), &[]);
            prop_assert_eq!(out.len(), template.as_object().map(Map::len).unwrap_or(0));
            let _ = validate(&template, SESSION_RESERVED);
        }

        #[test]
        fn strings_without_shortcodes_are_copied(s in "[^{]{0,40}") {
            let out = render(&json!({"k": s.clone()}), &subject(), &[]);
            prop_assert_eq!(&out["k"], &Value::String(s));
        }

        #[test]
        fn private_values_never_render(secret in "[a-z]{12}", path in "(user\\.)?(private_metadata|public_metadata|unsafe_metadata)?[a-z_.]{0,20}") {
            let new = crate::user::NewUser {
                first_name: Some("Ada".into()),
                metadata: crate::MetadataWrite {
                    public: Some(json!({"pub": 1})),
                    private: Some(json!({"stripe": secret.clone(), "k": {"v": secret.clone()}})),
                    unsafe_: Some(json!({"u": true})),
                },
                ..Default::default()
            };
            let user = User::create(new, 1_000, |p| format!("{p}_1")).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let subject = ClaimsSubject::from_user(&user, "http://x/a.svg");
            let template = json!({
                "a": format!("{{{{{path}}}}}"),
                "b": format!("x {{{{{path}}}}} {{{{user.public_metadata}}}}"),
                "c": "{{user.private_metadata}}",
                "d": "{{user.private_metadata.stripe || user.private_metadata.k}}",
            });
            let rendered = Value::Object(render(&template, &subject, &[])).to_string();
            prop_assert!(!rendered.contains(&secret), "{rendered}");
        }
    }
}
