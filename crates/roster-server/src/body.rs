//! Request decoding at the edge: JSON bodies into typed fields with precise errors, and query
//! strings with repeated keys. Everything here rejects with an [`ApiError`] naming the parameter.

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

use roster_domain::metadata::{validate_tier_value, MetadataTier};
use roster_domain::{DomainError, MetadataWrite};

use crate::error::{ApiError, ApiResult};

/// The largest request body accepted. Metadata is at most 3 × 8 KB; this leaves ample room.
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// How much of an oversized body is read and thrown away before answering 413, so that an
/// ordinary client still sending it receives the answer instead of a reset connection. Past
/// this, the connection is simply closed.
const DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// How long a client has to send a whole body. One trickling a byte at a time would otherwise
/// hold its connection, a task and the body so far for as long as it liked.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads the body, up to [`MAX_BODY_BYTES`], within [`BODY_READ_TIMEOUT`].
async fn read_limited(body: axum::body::Body) -> Result<Vec<u8>, ApiError> {
    tokio::time::timeout(BODY_READ_TIMEOUT, read_all(body))
        .await
        .map_err(|_| ApiError::BodyTimeout(BODY_READ_TIMEOUT.as_secs()))?
}

async fn read_all(body: axum::body::Body) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::BodyInvalid)?;
        seen += chunk.len();
        if seen > MAX_BODY_BYTES {
            if seen > DRAIN_BYTES {
                break;
            }
            continue;
        }
        bytes.extend_from_slice(&chunk);
    }
    if seen > MAX_BODY_BYTES {
        return Err(ApiError::BodyTooLarge(MAX_BODY_BYTES));
    }
    Ok(bytes)
}

/// The raw request body, up to [`MAX_BODY_BYTES`] (413 beyond).
pub struct RawBody(pub Vec<u8>);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        read_limited(req.into_body()).await.map(RawBody)
    }
}

/// A JSON object body. An empty body counts as `{}` (the JS SDK sends a JSON content type with
/// no body on `POST /users/{id}/ban`).
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = read_limited(req.into_body()).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonObject(Map::new()));
        }
        if let Some(ct) = &content_type {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::UnsupportedContentType(essence));
            }
        }
        parse_object(&bytes).map(JsonObject)
    }
}

/// Parses a JSON object body; anything else is `request_body_invalid`. A `null` body counts as
/// `{}`: clerk-rs sends one for `update_user_metadata(…, None)`.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|_| ApiError::BodyInvalid)?;
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(ApiError::BodyInvalid),
    }
}

/// Typed access to the fields of a body, each failing with the field's name.
pub struct Fields {
    map: Map<String, Value>,
}

/// An integer parameter's value: an integer, or a number with no fractional part that an integer
/// holds exactly. clerk-rs types some integer parameters as floats (`lifetime: Option<f32>`) and
/// sends `120.0`; rejecting that would leave the call unusable.
fn whole_number(n: &serde_json::Number) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer up to it is exact
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT)
            .map(|f| f as i64)
    })
}

fn wrong_type(param: &str, expected: &'static str) -> ApiError {
    DomainError::WrongType {
        param: param.to_owned(),
        expected,
    }
    .into()
}

impl Fields {
    /// Accepts only the listed parameters: anything else is `form_param_unknown`.
    pub fn new(map: Map<String, Value>, allowed: &[&str]) -> Result<Fields, ApiError> {
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(DomainError::UnknownParam {
                param: unknown.clone(),
            }
            .into());
        }
        Ok(Fields { map })
    }

    /// The raw value of a field; absent or null → `None`.
    pub fn take_value(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|v| !v.is_null())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Absent or null → `None`.
    pub fn string(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        Ok(self.nullable_string(name)?.flatten())
    }

    /// Absent → `None`; null → `Some(None)`.
    pub fn nullable_string(&mut self, name: &str) -> Result<Option<Option<String>>, ApiError> {
        match self.map.remove(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(s))),
            Some(_) => Err(wrong_type(name, "string")),
        }
    }

    pub fn bool(&mut self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(wrong_type(name, "boolean")),
        }
    }

    pub fn nullable_int(&mut self, name: &str) -> Result<Option<Option<i64>>, ApiError> {
        match self.map.remove(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::Number(n)) => whole_number(&n)
                .map(|n| Some(Some(n)))
                .ok_or_else(|| wrong_type(name, "integer")),
            Some(_) => Err(wrong_type(name, "integer")),
        }
    }

    /// An array of strings (a lone string counts as one item); absent or null → empty.
    pub fn string_list(&mut self, name: &str, max: usize) -> Result<Vec<String>, ApiError> {
        let items = match self.map.remove(name) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    _ => Err(wrong_type(name, "array of strings")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => Err(wrong_type(name, "array of strings"))?,
        };
        if items.len() > max {
            return Err(DomainError::TooManyItems {
                param: name.to_owned(),
                max,
            }
            .into());
        }
        Ok(items)
    }

    /// The three metadata fields, each checked to be an object or null.
    pub fn metadata_write(&mut self) -> Result<MetadataWrite, ApiError> {
        let mut write = MetadataWrite::default();
        for tier in MetadataTier::ALL {
            if let Some(value) = self.map.remove(tier.param_name()) {
                validate_tier_value(tier, &value)?;
                write.set(tier, value);
            }
        }
        Ok(write)
    }
}

/// A form body (`application/x-www-form-urlencoded`, as clerk-js sends to the Frontend API) as
/// a JSON object of strings; a repeated key becomes an array of strings.
pub fn parse_form(bytes: &[u8]) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, value) in form_urlencoded::parse(bytes) {
        let key = key
            .strip_suffix("[]")
            .map(str::to_owned)
            .unwrap_or_else(|| key.into_owned());
        let value = Value::String(value.into_owned());
        match map.get_mut(&key) {
            None => {
                map.insert(key, value);
            }
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    map
}

/// The method a Frontend API request stands for: clerk-js sends only GET and POST, naming
/// PATCH, PUT and DELETE in `_method` (a Safari CORS workaround).
pub fn overridden_method(
    method: &axum::http::Method,
    query: Option<&str>,
) -> Option<axum::http::Method> {
    if method != axum::http::Method::POST {
        return None;
    }
    let wanted = query_value(query, "_method")?;
    match wanted.to_ascii_uppercase().as_str() {
        "PATCH" => Some(axum::http::Method::PATCH),
        "PUT" => Some(axum::http::Method::PUT),
        "DELETE" => Some(axum::http::Method::DELETE),
        _ => None,
    }
}

/// The first value of query parameter `name`, decoded (leniently: this reads the few parameters
/// every route shares, such as `_method`, before a route parses its own).
pub fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    decoded_pairs(query.unwrap_or(""))
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Query-string pairs in order, repeated keys kept (`email_address=a&email_address=b`). Keys
/// written as `name[]` count as `name`. A `%` that does not start an escape (`%zz`) makes the
/// query malformed (400), as in Clerk, rather than a literal `%` that quietly matches nothing.
pub fn query_pairs(raw: Option<&str>) -> ApiResult<Vec<(String, String)>> {
    let raw = raw.unwrap_or("");
    if !percent_escapes_valid(raw) {
        return Err(ApiError::QueryMalformed);
    }
    Ok(decoded_pairs(raw).collect())
}

/// The pairs with each key's first value only, but for the keys in `repeatable` (list filters),
/// which keep every value: of a repeated single-valued parameter the first counts, as in Clerk
/// (Go's `Query().Get`).
pub fn first_values(pairs: Vec<(String, String)>, repeatable: &[&str]) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    pairs
        .into_iter()
        .filter(|(k, _)| repeatable.contains(&k.as_str()) || seen.insert(k.clone()))
        .collect()
}

fn decoded_pairs(raw: &str) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(raw.as_bytes()).map(|(k, v)| {
        let key = k
            .strip_suffix("[]")
            .map(str::to_owned)
            .unwrap_or_else(|| k.into_owned());
        (key, v.into_owned())
    })
}

/// Whether every `%` is followed by two hex digits.
fn percent_escapes_valid(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'%')
        .all(|(i, _)| {
            bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value, allowed: &[&str]) -> Result<Fields, ApiError> {
        match v {
            Value::Object(m) => Fields::new(m, allowed),
            _ => Err(ApiError::BodyInvalid),
        }
    }

    #[test]
    fn unknown_params_are_named() {
        let err = fields(json!({"first_name": "a", "nope": 1}), &["first_name"]).err();
        assert!(
            matches!(err, Some(ApiError::Domain(DomainError::UnknownParam { param })) if param == "nope")
        );
    }

    #[test]
    fn typed_getters() -> Result<(), ApiError> {
        let mut f = fields(
            json!({"s": "x", "n": null, "b": true, "i": 5, "l": ["a", "b"], "one": "a"}),
            &["s", "n", "b", "i", "l", "one"],
        )?;
        assert_eq!(f.string("s")?, Some("x".into()));
        assert_eq!(f.nullable_string("n")?, Some(None));
        assert_eq!(f.nullable_string("missing")?, None);
        assert_eq!(f.bool("b")?, Some(true));
        assert_eq!(f.nullable_int("i")?, Some(Some(5)));
        assert_eq!(f.string_list("l", 10)?, vec!["a", "b"]);
        assert_eq!(f.string_list("one", 10)?, vec!["a"]);
        Ok(())
    }

    #[test]
    fn integers_may_come_as_whole_floats() -> Result<(), ApiError> {
        let mut f = fields(
            json!({"a": 120.0, "b": -3.0, "c": 1.5, "d": 1e300, "e": "7", "f": 9007199254740992.0}),
            &["a", "b", "c", "d", "e", "f"],
        )?;
        assert_eq!(f.nullable_int("a")?, Some(Some(120)));
        assert_eq!(f.nullable_int("b")?, Some(Some(-3)));
        assert!(f.nullable_int("c").is_err());
        assert!(f.nullable_int("d").is_err());
        assert!(f.nullable_int("e").is_err());
        assert_eq!(f.nullable_int("f")?, Some(Some(9_007_199_254_740_992)));
        Ok(())
    }

    #[test]
    fn wrong_types_are_named() -> Result<(), ApiError> {
        let mut f = fields(
            json!({"s": 1, "l": [1], "m": "x"}),
            &["s", "l", "public_metadata", "m"],
        )?;
        assert!(f.string("s").is_err());
        assert!(f.string_list("l", 10).is_err());
        let mut f = fields(json!({"public_metadata": "x"}), &["public_metadata"])?;
        assert!(matches!(
            f.metadata_write(),
            Err(ApiError::Domain(DomainError::MetadataNotObject {
                param: "public_metadata"
            }))
        ));
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_ends_times_out() {
        let never = axum::body::Body::from_stream(futures_util::stream::pending::<
            Result<Vec<u8>, std::io::Error>,
        >());
        let started = tokio::time::Instant::now();
        assert!(matches!(
            read_limited(never).await,
            Err(ApiError::BodyTimeout(30))
        ));
        assert_eq!(started.elapsed(), BODY_READ_TIMEOUT);
        let whole = axum::body::Body::from("{}");
        assert_eq!(read_limited(whole).await.ok(), Some(b"{}".to_vec()));
    }

    #[test]
    fn query_pairs_keep_repeats() {
        let pairs = query_pairs(Some("email_address=a%40x.com&email_address[]=b&limit=5"));
        assert_eq!(
            pairs.ok(),
            Some(vec![
                ("email_address".into(), "a@x.com".into()),
                ("email_address".into(), "b".into()),
                ("limit".into(), "5".into())
            ])
        );
        assert_eq!(query_pairs(None).ok(), Some(vec![]));
    }

    #[test]
    fn first_values_keep_each_keys_first() {
        let pairs = query_pairs(Some("limit=2&status=active&limit=4")).unwrap_or_default();
        assert_eq!(
            first_values(pairs, &[]),
            vec![
                ("limit".to_owned(), "2".to_owned()),
                ("status".to_owned(), "active".to_owned())
            ]
        );
        let pairs = query_pairs(Some("user_id=a&limit=2&user_id=b&limit=4")).unwrap_or_default();
        assert_eq!(
            first_values(pairs, &["user_id"]),
            vec![
                ("user_id".to_owned(), "a".to_owned()),
                ("limit".to_owned(), "2".to_owned()),
                ("user_id".to_owned(), "b".to_owned())
            ]
        );
    }

    #[test]
    fn broken_percent_escapes_make_a_malformed_query() {
        for raw in ["q=%zz", "q=%", "q=a%4", "%g0=1", "q=100%"] {
            assert!(
                matches!(query_pairs(Some(raw)), Err(ApiError::QueryMalformed)),
                "{raw}"
            );
        }
        for raw in ["q=%25", "q=%2b%2B", "q=a+b", "q=%C3%A9"] {
            assert!(query_pairs(Some(raw)).is_ok(), "{raw}");
        }
        // Shared parameters are read leniently, before any route parses the query.
        assert_eq!(
            query_value(Some("_method=PATCH&q=%zz"), "_method").as_deref(),
            Some("PATCH")
        );
    }

    #[test]
    fn form_bodies() {
        let map = parse_form(b"email_address=a%40x.com&unsafe_metadata=%7B%22b%22%3A1%7D&tag=1&tag=2&organization_id=");
        assert_eq!(map["email_address"], "a@x.com");
        assert_eq!(map["unsafe_metadata"], "{\"b\":1}");
        assert_eq!(map["tag"], json!(["1", "2"]));
        assert_eq!(map["organization_id"], "");
        assert!(parse_form(b"").is_empty());
    }

    #[test]
    fn method_override() {
        use axum::http::Method;
        assert_eq!(
            overridden_method(&Method::POST, Some("_method=PATCH&x=1")),
            Some(Method::PATCH)
        );
        assert_eq!(
            overridden_method(&Method::POST, Some("_method=delete")),
            Some(Method::DELETE)
        );
        assert_eq!(overridden_method(&Method::POST, Some("_method=GET")), None);
        assert_eq!(
            overridden_method(&Method::GET, Some("_method=DELETE")),
            None
        );
        assert_eq!(overridden_method(&Method::POST, None), None);
    }

    #[test]
    fn bodies_must_be_objects() {
        assert!(parse_object(b"[1]").is_err());
        assert!(parse_object(b"{\"a\":").is_err());
        assert!(parse_object(b"{\"a\":1}").is_ok());
    }
}
