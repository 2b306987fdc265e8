#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Hostile input over every endpoint of the Backend API (`/v1`) and the Frontend API
//! (`/fapi/v1`), table-driven, against the real binary on a fresh database.
//!
//! Each case is one raw HTTP/1.1 request, written byte for byte over a socket so that nothing
//! in between normalises it: `../` stays in the path, invalid UTF-8 and NUL bytes reach the
//! server, bodies can be truncated, mis-chunked or 100 MB long without the test holding them.
//! Every case says what must come back (a 4xx with the JSON error envelope, its code and
//! `meta.param_name`; or, for the few requests that are harmless by design, the 200 they get;
//! or, where hyper refuses a request before routing, the bare status it sends). After every
//! case the server must still answer `/healthz`, and nothing stored may have changed: the users,
//! sessions and templates as the Backend API shows them, and the rows of every table a request
//! could touch, compared with the snapshot taken before the first case.
//!
//! Cases marked `bug` were server bugs this suite found (now fixed); the mark names the bug in a
//! failure message. Every case runs; `ROSTER_HOSTILE_BUGS=0` skips the marked ones, should a
//! regression need to be isolated.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{Server, SECRET_KEY};

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client: one request per connection, bytes exactly as given.

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    fn snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        text.chars().take(300).collect()
    }
}

enum Body {
    None,
    /// Sent whole, with a Content-Length.
    Bytes(Vec<u8>),
    /// `len` bytes made while sending (never held whole), chunked or with a Content-Length.
    Stream {
        len: u64,
        chunked: bool,
    },
    /// Bytes after the head exactly as given, framing headers supplied by the case; then the
    /// write side is shut, so a body shorter than announced ends in EOF.
    Verbatim(Vec<u8>),
}

struct Request {
    method: String,
    target: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    body: Body,
}

/// Reads one response: the head, then a Content-Length or chunked body, or up to EOF.
fn read_reply(stream: &mut TcpStream) -> std::io::Result<Reply> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed before a response head ({} bytes)",
                    buf.len()
                ),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut rest = buf[head_end..].to_vec();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while rest.len() < len {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(len);
        rest
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        // Read to the terminating chunk, then decode.
        while !rest.windows(5).any(|w| w == b"0\r\n\r\n") {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        let mut out = Vec::new();
        let mut at = 0;
        while let Some(eol) = rest[at..].windows(2).position(|w| w == b"\r\n") {
            let size_text = String::from_utf8_lossy(&rest[at..at + eol]).into_owned();
            let size = usize::from_str_radix(size_text.trim(), 16).unwrap_or(0);
            at += eol + 2;
            if size == 0 || at + size > rest.len() {
                break;
            }
            out.extend_from_slice(&rest[at..at + size]);
            at += size + 2;
        }
        out
    } else {
        // Connection: close framing: read to EOF (a reset after the data still counts).
        loop {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
            }
        }
        rest
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn send(addr: &str, req: &Request) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut head = Vec::new();
    head.extend_from_slice(req.method.as_bytes());
    head.push(b' ');
    head.extend_from_slice(&req.target);
    head.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in &req.headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    match &req.body {
        Body::None | Body::Verbatim(_) => {}
        Body::Bytes(b) => {
            head.extend_from_slice(format!("Content-Length: {}\r\n", b.len()).as_bytes())
        }
        Body::Stream {
            len,
            chunked: false,
        } => head.extend_from_slice(format!("Content-Length: {len}\r\n").as_bytes()),
        Body::Stream { chunked: true, .. } => {
            head.extend_from_slice(b"Transfer-Encoding: chunked\r\n")
        }
    }
    head.extend_from_slice(b"\r\n");
    // The server may answer (and close) before it has read everything, so bodies are written
    // from another thread while this one reads; write errors after that are expected.
    let mut writer = stream.try_clone()?;
    let body = match &req.body {
        Body::None => None,
        Body::Bytes(b) | Body::Verbatim(b) => Some(b.clone()),
        Body::Stream { .. } => None,
    };
    let stream_spec = match &req.body {
        Body::Stream { len, chunked } => Some((*len, *chunked)),
        _ => None,
    };
    let shut_after = matches!(req.body, Body::Verbatim(_));
    let writing = std::thread::spawn(move || -> std::io::Result<()> {
        writer.write_all(&head)?;
        if let Some(b) = body {
            writer.write_all(&b)?;
        }
        if let Some((len, chunked)) = stream_spec {
            let block = vec![b'a'; 64 * 1024];
            let mut sent = 0u64;
            while sent < len {
                let n = block.len().min((len - sent) as usize);
                if chunked {
                    writer.write_all(format!("{n:x}\r\n").as_bytes())?;
                    writer.write_all(&block[..n])?;
                    writer.write_all(b"\r\n")?;
                } else {
                    writer.write_all(&block[..n])?;
                }
                sent += n as u64;
            }
            if chunked {
                writer.write_all(b"0\r\n\r\n")?;
            }
        }
        if shut_after {
            writer.shutdown(Shutdown::Write)?;
        }
        Ok(())
    });
    let reply = read_reply(&mut stream);
    let _ = stream.shutdown(Shutdown::Both);
    let _ = writing.join();
    reply
}

// ---------------------------------------------------------------------------------------------
// The table.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Auth {
    None,
    /// `Authorization: Bearer <secret key>`.
    Secret,
    /// The signed-in browser's `__client` cookie.
    Browser,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

enum Expect {
    /// A 4xx with the JSON error envelope, this code, and `meta.param_name` (absent if `None`).
    Error {
        status: u16,
        code: &'static str,
        param: Option<String>,
    },
    /// hyper refuses the request before routing, so no handler can render an envelope.
    Bare(u16),
    /// Harmless by design (the endpoint takes no input, or a filter matched nothing): 200 with
    /// a JSON body passing the check.
    Accepted(&'static str, fn(&Value) -> bool),
}

/// A known server bug, on every backend or on one.
#[derive(Clone, Copy)]
struct Bug {
    why: &'static str,
    only_on: Option<Backend>,
}

struct Case {
    name: String,
    method: String,
    target: Vec<u8>,
    auth: Auth,
    headers: Vec<(String, Vec<u8>)>,
    body: Body,
    expect: Expect,
    /// Skipped unless `ROSTER_HOSTILE_BUGS=1`.
    bug: Option<Bug>,
}

impl Case {
    fn new(name: impl Into<String>, method: &str, target: impl AsRef<[u8]>, auth: Auth) -> Case {
        Case {
            name: name.into(),
            method: method.to_owned(),
            target: target.as_ref().to_vec(),
            auth,
            headers: Vec::new(),
            body: Body::None,
            expect: Expect::Bare(0),
            bug: None,
        }
    }

    fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Case {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    fn json(self, body: impl AsRef<[u8]>) -> Case {
        self.header("Content-Type", "application/json")
            .body(Body::Bytes(body.as_ref().to_vec()))
    }

    fn form(self, body: impl AsRef<[u8]>) -> Case {
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .body(Body::Bytes(body.as_ref().to_vec()))
    }

    fn body(mut self, body: Body) -> Case {
        self.body = body;
        self
    }

    fn err(mut self, status: u16, code: &'static str, param: Option<&str>) -> Case {
        self.expect = Expect::Error {
            status,
            code,
            param: param.map(str::to_owned),
        };
        self
    }

    fn bare(mut self, status: u16) -> Case {
        self.expect = Expect::Bare(status);
        self
    }

    fn accepted(mut self, what: &'static str, check: fn(&Value) -> bool) -> Case {
        self.expect = Expect::Accepted(what, check);
        self
    }

    /// BUG: marks a case that fails today because of a server bug.
    fn bug(mut self, why: &'static str) -> Case {
        self.bug = Some(Bug { why, only_on: None });
        self
    }

    fn maybe_bug(self, bug: Option<Bug>) -> Case {
        match bug {
            Some(b) => Case {
                bug: Some(b),
                ..self
            },
            None => self,
        }
    }

    fn known_bug(&self, backend: Backend) -> Option<&'static str> {
        self.bug
            .filter(|b| b.only_on.is_none_or(|on| on == backend))
            .map(|b| b.why)
    }
}

// BUG: each of these was a server bug found by this suite, fixed since; the cases naming them
// guard against its return.
const PATH_NOT_UTF8: &str = "invalid UTF-8 in a path parameter gets axum's 400 text/plain \
    `Invalid URL: Invalid UTF-8 in ...` (no envelope): routes/sessions.rs and fapi.rs extract \
    `Path<String>` directly, where users use `UserId`, which maps the rejection to a 404 envelope";
const PG_NUL: &str = "PostgreSQL refuses NUL in a text parameter and the store error surfaces \
    as 500 internal_clerk_error: the value reaches a query unchecked (jwt_template_by_name, \
    get_session from the Frontend API, list filters)";
const NUL_FILTER: &str = "a NUL in a substring filter: PostgreSQL answers 500 (NUL in a text \
    parameter), SQLite stops the LIKE pattern at the NUL and matches every user";
const FAPI_FALLBACK: &str = "the Frontend API router has no fallback: unknown paths and methods \
    under /fapi/v1 get axum's bare 404/405 (empty body, no content type, no envelope)";
const FORM_LOSSY: &str = "invalid UTF-8 in a Frontend API form value is decoded lossily \
    (body::parse_form via form_urlencoded) and stored as U+FFFD instead of being refused, where \
    the Backend API refuses invalid UTF-8 in JSON with 400";
const ORPHAN_CLIENT: &str = "a refused anonymous sign-in stores a client row that no cookie ever \
    names: fapi::create_sign_in puts the new client before it answers the error";

const BODY_INVALID: &str = "request_body_invalid";
const UNKNOWN: &str = "form_param_unknown";
const MISSING: &str = "form_param_missing";
const TYPE_INVALID: &str = "form_param_type_invalid";
const VALUE_INVALID: &str = "form_param_value_invalid";
const FORMAT_INVALID: &str = "form_param_format_invalid";
const TOO_BIG: &str = "form_param_exceeds_allowed_size";
const NOT_FOUND: &str = "resource_not_found";
const TOO_LARGE: &str = "request_body_too_large";
const UNAUTHENTICATED: &str = "authentication_invalid";
const API_VERSION: &str = "api_version_invalid";
const BAD_DATE: &str = "form_param_invalid_date";

const MB: usize = 1024 * 1024;
/// Just over the 512 KiB body limit, sent whole.
const OVERSIZED: usize = 600 * 1024;

fn nested(open: &str, levels: usize, close: &str) -> Vec<u8> {
    [open.repeat(levels), close.repeat(levels)]
        .concat()
        .into_bytes()
}

/// A body of `content_type` whose framing is broken, both ways: a chunked body whose chunk size
/// is not a number (the chunk holds `chunk`), and a body shorter than its Content-Length.
fn broken_framing(
    c: &dyn Fn(&str) -> Case,
    content_type: &str,
    chunk: &[u8],
    short: &[u8],
) -> [Case; 2] {
    [
        c("broken chunked encoding")
            .header("Content-Type", content_type)
            .header("Transfer-Encoding", "chunked")
            .body(Body::Verbatim(with(b"zz\r\n", chunk, b"\r\n0\r\n\r\n")))
            .err(400, BODY_INVALID, None),
        c("body shorter than its Content-Length")
            .header("Content-Type", content_type)
            .header("Content-Length", "100")
            .body(Body::Verbatim(short.to_vec()))
            .err(400, BODY_INVALID, None),
    ]
}

fn with(prefix: &[u8], middle: &[u8], suffix: &[u8]) -> Vec<u8> {
    [prefix, middle, suffix].concat()
}

fn is_empty_array(v: &Value) -> bool {
    v.as_array().is_some_and(Vec::is_empty)
}

/// Ids that must never reach a row: SQL-looking, traversal, NUL, invalid UTF-8, oversized,
/// well-shaped but unknown, empty. Raw request-target bytes (already percent-encoded).
fn hostile_ids(prefix: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("SQL ' OR 1=1 --", b"'%20OR%201=1%20--".to_vec()),
        (
            "SQL ; DROP TABLE",
            format!("{prefix}_1;%20DROP%20TABLE%20users").into_bytes(),
        ),
        (
            "SQL quote and comment",
            format!("{prefix}_1'%3B%20DELETE%20FROM%20users%3B--").into_bytes(),
        ),
        ("traversal ..%2F..%2F", b"..%2F..%2Fjwks".to_vec()),
        ("traversal %2e%2e%2f", b"%2e%2e%2f%2e%2e%2fusers".to_vec()),
        ("dot-dot segment", b"..".to_vec()),
        ("NUL", format!("{prefix}_%00").into_bytes()),
        ("invalid UTF-8", format!("{prefix}_%FF%FE").into_bytes()),
        (
            "10 KB id",
            format!("{prefix}_{}", "A".repeat(10_000)).into_bytes(),
        ),
        (
            "well-shaped, unknown",
            format!("{prefix}_{}", "0".repeat(27)).into_bytes(),
        ),
        ("empty", Vec::new()),
    ]
}

/// The objects the cases aim at.
struct Fixture {
    user: String,
    bystander: String,
    session: String,
    template_id: String,
    template_name: String,
    /// The browser's `__client` cookie value, signed in as `user` in `browser_session`.
    client_cookie: String,
    browser_session: String,
    sign_in: String,
    sign_up: String,
}

fn all_cases(f: &Fixture) -> Vec<Case> {
    let mut cases = Vec::new();
    bapi_body_cases(&mut cases, f);
    bapi_field_cases(&mut cases, f);
    bapi_id_cases(&mut cases, f);
    bapi_query_cases(&mut cases);
    header_cases(&mut cases, f);
    path_and_method_cases(&mut cases, f);
    fapi_body_cases(&mut cases, f);
    fapi_field_cases(&mut cases, f);
    fapi_id_cases(&mut cases, f);
    fapi_caller_cases(&mut cases, f);
    cases
}

/// Every Backend API endpoint that reads a JSON body, with malformed, mistyped, oversized and
/// mis-framed bodies. The ids in the paths are real, so the body is what must fail.
fn bapi_body_cases(cases: &mut Vec<Case>, f: &Fixture) {
    let (u, s, t, tn) = (&f.user, &f.session, &f.template_id, &f.template_name);
    let endpoints: Vec<(&str, String)> = vec![
        ("POST", "/users".into()),
        ("POST", "/users/ban".into()),
        ("POST", "/users/unban".into()),
        ("PATCH", format!("/users/{u}")),
        ("PATCH", format!("/users/{u}/metadata")),
        ("PUT", format!("/users/{u}/metadata")),
        ("POST", format!("/users/{u}/ban")),
        ("POST", format!("/users/{u}/unban")),
        ("POST", format!("/users/{u}/lock")),
        ("POST", format!("/users/{u}/unlock")),
        ("POST", format!("/users/{u}/verify_password")),
        ("POST", "/sessions".into()),
        ("POST", format!("/sessions/{s}/tokens")),
        ("POST", format!("/sessions/{s}/tokens/{tn}")),
        ("POST", "/jwt_templates".into()),
        ("PATCH", format!("/jwt_templates/{t}")),
        ("PUT", "/instance/session_token_claims".into()),
    ];
    for (method, path) in &endpoints {
        let c = |what: &str| {
            Case::new(
                format!("{method} /v1{path} | {what}"),
                method,
                format!("/v1{path}"),
                Auth::Secret,
            )
        };
        let bad = |what: &str, body: &[u8]| c(what).json(body).err(400, BODY_INVALID, None);
        cases.extend([
            bad("truncated JSON", b"{\"first_name\": \"a"),
            bad("malformed JSON", b"{first_name: 'a'}"),
            bad("two objects", b"{} {}"),
            bad("an array, not an object", b"[{}]"),
            bad("a string, not an object", b"\"{}\""),
            bad("a number, not an object", b"12"),
            bad("byte order mark", b"\xef\xbb\xbf{}"),
            bad(
                "invalid UTF-8 in a value",
                b"{\"first_name\": \"\xff\xfe\"}",
            ),
            bad("invalid UTF-8 in a key", b"{\"\xc3\x28\": 1}"),
            bad("lone surrogate escape", b"{\"first_name\": \"\\ud800\"}"),
            bad("number out of range", b"{\"x\": 1e400}"),
            // JSON parsing stops at 128 levels, before the metadata depth bound is reached.
            bad(
                "metadata nested 100,000 levels (arrays)",
                &with(
                    b"{\"public_metadata\": {\"a\": ",
                    &nested("[", 100_000, "]"),
                    b"}}",
                ),
            ),
            bad(
                "metadata nested 100,000 levels (objects, unterminated)",
                &with(
                    b"{\"public_metadata\": ",
                    "{\"a\":".repeat(100_000).as_bytes(),
                    b"",
                ),
            ),
            bad(
                "metadata nested 200 levels",
                &with(
                    b"{\"public_metadata\": ",
                    &nested("{\"a\":", 200, "}"),
                    b"}",
                ),
            ),
            c("NUL in a key")
                .json(b"{\"a\\u0000b\": 1}")
                .err(422, UNKNOWN, Some("a\0b")),
            // Duplicate keys: the last one counts (as in Go's encoding/json and serde_json).
            c("duplicate unknown keys")
                .json(b"{\"zz\": 1, \"zz\": 2}")
                .err(422, UNKNOWN, Some("zz")),
            c("form body (the Backend API takes JSON)")
                .form(b"first_name=x")
                .err(415, "unsupported_content_type", None),
            c("text/plain body")
                .header("Content-Type", "text/plain")
                .body(Body::Bytes(b"{}".to_vec()))
                .err(415, "unsupported_content_type", None),
            c("600 KB body")
                .json(with(
                    b"{\"first_name\": \"",
                    "a".repeat(OVERSIZED).as_bytes(),
                    b"\"}",
                ))
                .err(413, TOO_LARGE, None),
        ]);
        cases.extend(broken_framing(
            &c,
            "application/json",
            b"{}",
            b"{\"first_name\":",
        ));
    }
    // 100 MB bodies, streamed: the server reads up to its drain bound (16 MB) and answers 413.
    for (method, path, chunked) in [
        ("POST", "/v1/users".to_owned(), false),
        ("PATCH", format!("/v1/users/{u}/metadata"), true),
        ("PUT", "/v1/instance/session_token_claims".to_owned(), false),
    ] {
        let framing = if chunked { "chunked" } else { "Content-Length" };
        cases.push(
            Case::new(
                format!("{method} {path} | 100 MB body, {framing}"),
                method,
                &path,
                Auth::Secret,
            )
            .header("Content-Type", "application/json")
            .body(Body::Stream {
                len: 100 * MB as u64,
                chunked,
            })
            .err(413, TOO_LARGE, None),
        );
    }
}

/// Method, path, JSON body, status, code, `meta.param_name`.
type FieldCase<'a> = (
    &'a str,
    &'a str,
    &'a str,
    u16,
    &'static str,
    Option<&'a str>,
);

/// Wrong types, NUL bytes, SQL-looking values and duplicate keys, field by field. Each body is
/// refused whole: where a valid field comes first, it must not be stored either.
#[rustfmt::skip]
fn bapi_field_cases(cases: &mut Vec<Case>, f: &Fixture) {
    let (u, s, t, tn) = (&f.user, &f.session, &f.template_id, &f.template_name);
    let user = format!("/users/{u}");
    let meta = format!("/users/{u}/metadata");
    let verify = format!("/users/{u}/verify_password");
    let (ban, lock) = (format!("/users/{u}/ban"), format!("/users/{u}/lock"));
    let token = format!("/sessions/{s}/tokens");
    let template_token = format!("/sessions/{s}/tokens/{tn}");
    let template = format!("/jwt_templates/{t}");
    let deep_claims = format!(r#"{{"name": "x", "claims": {}}}"#, String::from_utf8(nested(r#"{"a":"#, 17, "}")).unwrap().replace("{\"a\":}", "{\"a\":1}"));
    let big = format!(r#"{{"public_metadata": {{"k": "{}"}}}}"#, "x".repeat(9000));
    let fifty_one = serde_json::to_string(&json!({"user_ids": vec!["user_x"; 51]})).unwrap();
    let table: Vec<FieldCase> = vec![
        ("POST", "/users", r#"{"first_name": 123}"#, 422, TYPE_INVALID, Some("first_name")),
        ("POST", "/users", r#"{"email_address": {"a": 1}}"#, 422, TYPE_INVALID, Some("email_address")),
        ("POST", "/users", r#"{"email_address": [1]}"#, 422, TYPE_INVALID, Some("email_address")),
        ("POST", "/users", r#"{"banned": "yes"}"#, 422, TYPE_INVALID, Some("banned")),
        ("POST", "/users", r#"{"create_organizations_limit": 99999999999999999999}"#, 422, TYPE_INVALID, Some("create_organizations_limit")),
        ("POST", "/users", r#"{"public_metadata": [1]}"#, 422, VALUE_INVALID, Some("public_metadata")),
        ("POST", "/users", r#"{"private_metadata": "x"}"#, 422, VALUE_INVALID, Some("private_metadata")),
        ("POST", "/users", r#"{"first_name": "a\u0000b"}"#, 422, VALUE_INVALID, Some("first_name")),
        ("POST", "/users", r#"{"external_id": "x\u0000"}"#, 422, VALUE_INVALID, Some("external_id")),
        ("POST", "/users", r#"{"email_address": ["' OR 1=1 --"]}"#, 422, FORMAT_INVALID, Some("email_address")),
        ("POST", "/users", r#"{"email_address": ["a\u0000@example.com"]}"#, 422, FORMAT_INVALID, Some("email_address")),
        ("POST", "/users", r#"{"username": "user_1; DROP TABLE users"}"#, 422, FORMAT_INVALID, Some("username")),
        ("POST", "/users", r#"{"first_name": "ok", "first_name": 5}"#, 422, TYPE_INVALID, Some("first_name")),
        ("POST", "/users", r#"{"public_metadata": {"ok": 1}, "public_metadata": "x"}"#, 422, VALUE_INVALID, Some("public_metadata")),
        ("POST", "/users", r#"{"email_address": ["dup@example.com", "dup@example.com"]}"#, 422, VALUE_INVALID, Some("email_address")),
        ("POST", "/users", r#"{"email_address": ["u@example.com"]}"#, 422, "form_identifier_exists", Some("email_address")),
        ("POST", "/users/ban", r#"{"user_ids": {"a": 1}}"#, 422, TYPE_INVALID, Some("user_ids")),
        ("POST", "/users/ban", r#"{"user_ids": [1]}"#, 422, TYPE_INVALID, Some("user_ids")),
        ("POST", "/users/ban", r#"{"user_ids": []}"#, 422, MISSING, Some("user_ids")),
        ("POST", "/users/unban", r#"{"user_ids": "x", "user_ids": null}"#, 422, MISSING, Some("user_ids")),
        ("POST", "/users/unban", &fifty_one, 422, "form_param_array_size_exceeded", Some("user_ids")),
        ("PATCH", &user, r#"{"first_name": ["a"]}"#, 422, TYPE_INVALID, Some("first_name")),
        ("PATCH", &user, r#"{"first_name": "Mallory", "last_name": 5}"#, 422, TYPE_INVALID, Some("last_name")),
        ("PATCH", &user, r#"{"external_id": "a\u0000"}"#, 422, VALUE_INVALID, Some("external_id")),
        ("PATCH", &user, r#"{"username": "' OR 1=1 --"}"#, 422, FORMAT_INVALID, Some("username")),
        ("PATCH", &user, r#"{"primary_email_address_id": "idn_1' OR 1=1 --"}"#, 422, VALUE_INVALID, Some("primary_email_address_id")),
        ("PATCH", &user, r#"{"public_metadata": {"role": "admin"}, "private_metadata": 1}"#, 422, VALUE_INVALID, Some("private_metadata")),
        ("PATCH", &user, r#"{"legal_accepted_at": "2024-01-01T00:00:00Z\u0000"}"#, 422, "form_param_invalid_time", Some("legal_accepted_at")),
        ("PATCH", &user, r#"{"username": "ok_name", "username": 7}"#, 422, TYPE_INVALID, Some("username")),
        ("PATCH", &meta, r#"{"public_metadata": [1]}"#, 422, VALUE_INVALID, Some("public_metadata")),
        ("PATCH", &meta, r#"{"public_metadata": {"new": 1}, "private_metadata": "x"}"#, 422, VALUE_INVALID, Some("private_metadata")),
        ("PATCH", &meta, r#"{"unsafe_metadata": true}"#, 422, VALUE_INVALID, Some("unsafe_metadata")),
        ("PATCH", &meta, r#"{"first_name": "x"}"#, 422, UNKNOWN, Some("first_name")),
        ("PATCH", &meta, &big, 422, TOO_BIG, Some("public_metadata")),
        ("PUT", &meta, r#"{"private_metadata": 5}"#, 422, VALUE_INVALID, Some("private_metadata")),
        ("PUT", &meta, r#"{"public_metadata": {}, "public_metadata": [null]}"#, 422, VALUE_INVALID, Some("public_metadata")),
        ("PUT", &meta, &big, 422, TOO_BIG, Some("public_metadata")),
        ("POST", &ban, r#"{"banned": true}"#, 422, UNKNOWN, Some("banned")),
        ("POST", &lock, r#"{"\u0000": 1}"#, 422, UNKNOWN, Some("\0")),
        ("POST", &verify, r#"{"password": 123}"#, 422, TYPE_INVALID, Some("password")),
        ("POST", &verify, r#"{}"#, 422, MISSING, Some("password")),
        ("POST", &verify, r#"{"password": "' OR 1=1 --"}"#, 422, "form_password_incorrect", Some("password")),
        ("POST", &verify, r#"{"password": "correct horse battery\u0000"}"#, 422, "form_password_incorrect", Some("password")),
        ("POST", &verify, r#"{"password": "correct horse battery", "password": 1}"#, 422, TYPE_INVALID, Some("password")),
        ("POST", "/sessions", r#"{"user_id": 5}"#, 422, TYPE_INVALID, Some("user_id")),
        ("POST", "/sessions", r#"{}"#, 422, MISSING, Some("user_id")),
        ("POST", "/sessions", r#"{"user_id": "' OR 1=1 --"}"#, 404, NOT_FOUND, None),
        ("POST", "/sessions", r#"{"user_id": "user_1; DROP TABLE sessions"}"#, 404, NOT_FOUND, None),
        ("POST", "/sessions", r#"{"user_id": "user_\u0000"}"#, 404, NOT_FOUND, None),
        ("POST", &token, r#"{"expires_in_seconds": "60"}"#, 422, TYPE_INVALID, Some("expires_in_seconds")),
        ("POST", &token, r#"{"expires_in_seconds": 1e300}"#, 422, TYPE_INVALID, Some("expires_in_seconds")),
        ("POST", &token, r#"{"expires_in_seconds": -1}"#, 422, VALUE_INVALID, Some("expires_in_seconds")),
        ("POST", &template_token, r#"{"expires_in_seconds": [60]}"#, 422, TYPE_INVALID, Some("expires_in_seconds")),
        ("POST", "/jwt_templates", r#"{"name": 1, "claims": {}}"#, 422, TYPE_INVALID, Some("name")),
        ("POST", "/jwt_templates", r#"{"name": "x", "claims": []}"#, 422, VALUE_INVALID, Some("claims")),
        ("POST", "/jwt_templates", r#"{"name": "x", "claims": {"sub": "evil"}}"#, 422, VALUE_INVALID, Some("claims")),
        ("POST", "/jwt_templates", r#"{"name": "x", "claims": {"a": "{{user.private_metadata}}"}}"#, 422, VALUE_INVALID, Some("claims")),
        ("POST", "/jwt_templates", r#"{"name": "../../etc/passwd", "claims": {}}"#, 422, VALUE_INVALID, Some("name")),
        // PostgreSQL cannot store NUL in text: it was a 500 there and a stored name on SQLite.
        ("POST", "/jwt_templates", r#"{"name": "a\u0000x", "claims": {}}"#, 422, VALUE_INVALID, Some("name")),
        ("POST", "/jwt_templates", r#"{"name": "x", "claims": {}, "lifetime": "60"}"#, 422, TYPE_INVALID, Some("lifetime")),
        ("POST", "/jwt_templates", &deep_claims, 422, VALUE_INVALID, Some("claims")),
        ("POST", "/jwt_templates", r#"{"name": "hostile", "claims": {}}"#, 422, "form_already_exists", Some("name")),
        ("POST", "/jwt_templates", r#"{"name": "x", "name": "", "claims": {}}"#, 422, MISSING, Some("name")),
        ("PATCH", &template, r#"{"name": "x", "claims": "{}"}"#, 422, VALUE_INVALID, Some("claims")),
        ("PATCH", &template, r#"{"name": "renamed", "claims": {}, "allowed_clock_skew": 100000}"#, 422, VALUE_INVALID, Some("allowed_clock_skew")),
        ("PUT", "/instance/session_token_claims", r#"{"claims": "x"}"#, 422, VALUE_INVALID, Some("claims")),
        ("PUT", "/instance/session_token_claims", r#"{"claims": {"sub": "x"}}"#, 422, VALUE_INVALID, Some("claims")),
        ("PUT", "/instance/session_token_claims", r#"{"claims": {"a": "{{ user.private_metadata.x }}"}}"#, 422, VALUE_INVALID, Some("claims")),
        ("PUT", "/instance/session_token_claims", r#"{}"#, 422, MISSING, Some("claims")),
    ];
    for (method, path, body, status, code, param) in table {
        let shown: String = body.chars().take(100).collect();
        cases.push(
            Case::new(format!("{method} /v1{path} | {shown}"), method, format!("/v1{path}"), Auth::Secret)
                .json(body)
                .err(status, code, param),
        );
    }
    cases.push(
        Case::new("POST /v1/users/ban | SQL-looking ids ban nobody", "POST", "/v1/users/ban", Auth::Secret)
            .json(r#"{"user_ids": ["' OR 1=1 --", "user_1; DROP TABLE users", "user_\u0000", "%"]}"#)
            .accepted("an empty list", is_empty_array),
    );
}

/// Hostile ids in every Backend API path parameter.
#[rustfmt::skip]
fn bapi_id_cases(cases: &mut Vec<Case>, f: &Fixture) {
    let endpoints: Vec<(&str, &str, &str, &str, &str)> = vec![
        // method, id prefix, path before the id, after it, body
        ("GET", "user", "/users/", "", ""),
        ("PATCH", "user", "/users/", "", "{}"),
        ("DELETE", "user", "/users/", "", ""),
        ("PATCH", "user", "/users/", "/metadata", "{}"),
        ("PUT", "user", "/users/", "/metadata", "{}"),
        ("POST", "user", "/users/", "/ban", "{}"),
        ("POST", "user", "/users/", "/unban", "{}"),
        ("POST", "user", "/users/", "/lock", "{}"),
        ("POST", "user", "/users/", "/unlock", "{}"),
        ("POST", "user", "/users/", "/verify_password", r#"{"password": "correct horse battery"}"#),
        ("GET", "sess", "/sessions/", "", ""),
        ("POST", "sess", "/sessions/", "/revoke", ""),
        ("POST", "sess", "/sessions/", "/tokens", "{}"),
        ("GET", "jtmpl", "/jwt_templates/", "", ""),
        ("PATCH", "jtmpl", "/jwt_templates/", "", r#"{"name": "renamed", "claims": {}}"#),
        ("DELETE", "jtmpl", "/jwt_templates/", "", ""),
    ];
    for (method, prefix, before, after, body) in endpoints {
        for (label, id) in hostile_ids(prefix) {
            // Users go through the `UserId` extractor; the other routes take `Path<String>`.
            let bug = (prefix != "user" && label == "invalid UTF-8").then_some(Bug { why: PATH_NOT_UTF8, only_on: None });
            let target = with(format!("/v1{before}").as_bytes(), &id, after.as_bytes());
            let mut case = Case::new(format!("{method} /v1{before}{{id}}{after} | id: {label}"), method, target, Auth::Secret);
            if !body.is_empty() {
                case = case.json(body);
            }
            cases.push(case.err(404, NOT_FOUND, None).maybe_bug(bug));
        }
    }
    // Both parameters of the template-token route.
    for (label, id) in hostile_ids("sess") {
        let utf8 = (label == "invalid UTF-8").then_some(Bug { why: PATH_NOT_UTF8, only_on: None });
        let target = with(b"/v1/sessions/", &id, format!("/tokens/{}", f.template_name).as_bytes());
        cases.push(
            Case::new(format!("POST /v1/sessions/{{id}}/tokens/{{name}} | session id: {label}"), "POST", target, Auth::Secret)
                .json("{}").err(404, NOT_FOUND, None).maybe_bug(utf8),
        );
        // The template is looked up by name before the session is checked.
        let nul = (label == "NUL").then_some(Bug { why: PG_NUL, only_on: Some(Backend::Postgres) });
        let target = with(format!("/v1/sessions/{}/tokens/", f.session).as_bytes(), &id, b"");
        cases.push(
            Case::new(format!("POST /v1/sessions/{{id}}/tokens/{{name}} | template name: {label}"), "POST", target, Auth::Secret)
                .json("{}").err(404, NOT_FOUND, None).maybe_bug(utf8.or(nul)),
        );
    }
}

/// Query strings of the list endpoints, and the API version parameter everywhere.
#[rustfmt::skip]
fn bapi_query_cases(cases: &mut Vec<Case>) {
    let refused: Vec<(&str, &str, u16, &str, Option<&str>)> = vec![
        ("/users", "limit=abc", 422, VALUE_INVALID, Some("limit")),
        ("/users", "limit=0", 422, VALUE_INVALID, Some("limit")),
        ("/users", "offset=-1", 422, VALUE_INVALID, Some("offset")),
        ("/users", "order_by='%20OR%201=1%20--", 422, FORMAT_INVALID, Some("order_by")),
        ("/users", "order_by=created_at;DROP%20TABLE%20users", 422, FORMAT_INVALID, Some("order_by")),
        ("/users", "created_at_after=%00", 422, BAD_DATE, Some("created_at_after")),
        ("/users", "last_active_at_since=1e3", 422, BAD_DATE, Some("last_active_at_since")),
        ("/users", "banned=%FF", 422, VALUE_INVALID, Some("banned")),
        ("/users/count", "created_at_before=yesterday", 422, BAD_DATE, Some("created_at_before")),
        ("/users/count", "banned=1%00", 422, VALUE_INVALID, Some("banned")),
        ("/sessions", "status=%00", 422, VALUE_INVALID, Some("status")),
        ("/sessions", "status='%20OR%201=1%20--", 422, VALUE_INVALID, Some("status")),
        ("/sessions", "limit=501", 422, VALUE_INVALID, Some("limit")),
        ("/sessions", "offset=-5", 422, VALUE_INVALID, Some("offset")),
        ("/jwt_templates", "limit=-1", 422, VALUE_INVALID, Some("limit")),
        ("/jwt_templates", "offset=abc", 422, VALUE_INVALID, Some("offset")),
        ("/users", "__clerk_api_version=%00", 400, API_VERSION, None),
        ("/jwks", "__clerk_api_version=2026-05-12'%20OR%201=1", 400, API_VERSION, None),
        ("/instance/session_token_claims", "__clerk_api_version=%FF", 400, API_VERSION, None),
    ];
    for (path, query, status, code, param) in refused {
        cases.push(Case::new(format!("GET /v1{path}?{query}"), "GET", format!("/v1{path}?{query}"), Auth::Secret).err(status, code, param));
    }
    // Filters that match nothing: SQL and LIKE metacharacters are data, never syntax.
    let nul_filter = Some(Bug { why: NUL_FILTER, only_on: None });
    let pg_nul = Some(Bug { why: PG_NUL, only_on: Some(Backend::Postgres) });
    let empty: Vec<(&str, &str, Option<Bug>)> = vec![
        ("/users", "user_id='%20OR%201=1%20--", None),
        ("/users", "user_id=user_1;%20DROP%20TABLE%20users", None),
        ("/users", "email_address='%20OR%20''='", None),
        ("/users", "username=%00", pg_nul),
        ("/users", "external_id=%FF%FE", None),
        ("/users", "query=%00", nul_filter),
        ("/users", "query=%25", None),
        ("/users", "query=q_q", None),
        ("/users", "query=%FF", None),
        ("/users", "email_address_query=%25%25", None),
        ("/users", "name_query=%5C", None),
        ("/users", "phone_number_query=%00%25", nul_filter),
        ("/sessions", "user_id='%20OR%201=1%20--", None),
        ("/sessions", "user_id=%00", pg_nul),
        ("/sessions", "client_id=%00", pg_nul),
        ("/sessions", "client_id=%FF", None),
    ];
    for (path, query, bug) in empty {
        cases.push(
            Case::new(format!("GET /v1{path}?{query}"), "GET", format!("/v1{path}?{query}"), Auth::Secret)
                .accepted("an empty list", is_empty_array).maybe_bug(bug),
        );
    }
    cases.push(
        Case::new("GET /v1/users/count?user_id=' OR 1=1 --", "GET", "/v1/users/count?user_id='%20OR%201=1%20--", Auth::Secret)
            .accepted("a zero count", |v| v["total_count"] == 0),
    );
    cases.push(
        Case::new("GET /v1/users?limit=<60 KB of 9s>", "GET", format!("/v1/users?limit={}", "9".repeat(60_000)), Auth::Secret)
            .err(422, VALUE_INVALID, Some("limit")),
    );
    cases.push(
        Case::new("GET /v1/users with 101 email_address values", "GET", format!("/v1/users?{}", vec!["email_address=a%40x.com"; 101].join("&")), Auth::Secret)
            .err(422, "form_param_array_size_exceeded", Some("email_address")),
    );
    cases.push(
        Case::new("GET /v1/users?__clerk_api_version=<60 KB>", "GET", format!("/v1/users?__clerk_api_version={}", "2".repeat(60_000)), Auth::Secret)
            .err(400, API_VERSION, None),
    );
    // hyper refuses a request head this long before routing (over its 400 KiB read buffer).
    cases.push(
        Case::new("GET /v1/users?query=<1 MB>", "GET", format!("/v1/users?query={}", "q".repeat(MB)), Auth::Secret)
            .bare(431),
    );
}

/// Huge, malformed and hostile headers.
fn header_cases(cases: &mut Vec<Case>, f: &Fixture) {
    let filler = "f".repeat(64 * 1024);
    cases.extend([
        Case::new("64 KB Bearer token", "GET", "/v1/users", Auth::None)
            .header("Authorization", format!("Bearer {filler}"))
            .err(401, "clerk_key_invalid", None),
        Case::new(
            "64 KB Authorization without Bearer",
            "GET",
            "/v1/users",
            Auth::None,
        )
        .header("Authorization", &filler)
        .err(401, "authorization_header_format_invalid", None),
        Case::new(
            "Authorization with invalid UTF-8",
            "GET",
            "/v1/users",
            Auth::None,
        )
        .header("Authorization", b"Bearer sk_test_\xff\xfe")
        .err(401, "authorization_header_format_invalid", None),
        Case::new(
            "SQL in the Bearer token",
            "DELETE",
            format!("/v1/users/{}", f.user),
            Auth::None,
        )
        .header("Authorization", "Bearer ' OR 1=1 --")
        .err(401, "clerk_key_invalid", None),
        Case::new("64 KB Clerk-API-Version", "GET", "/v1/users", Auth::Secret)
            .header("Clerk-API-Version", &filler)
            .err(400, API_VERSION, None),
        Case::new(
            "Clerk-API-Version with invalid UTF-8",
            "GET",
            "/v1/users",
            Auth::Secret,
        )
        .header("Clerk-API-Version", b"2026-05-12\xff")
        .err(400, API_VERSION, None),
        Case::new(
            "Clerk-API-Version in header and query",
            "GET",
            "/v1/users?__clerk_api_version=2026-05-12",
            Auth::Secret,
        )
        .header("Clerk-API-Version", "2026-05-12")
        .err(400, API_VERSION, None),
        Case::new(
            "64 KB unrelated header on a hostile id",
            "GET",
            "/v1/users/'%20OR%201=1%20--",
            Auth::Secret,
        )
        .header("X-Filler", &filler)
        .err(404, NOT_FOUND, None),
        // hyper's limits, enforced while it reads the head, before any routing: no envelope.
        Case::new("1 MB header", "GET", "/v1/users", Auth::Secret)
            .header("X-Filler", "f".repeat(MB))
            .bare(431),
        Case::new("NUL in a header value", "GET", "/v1/users", Auth::Secret)
            .header("X-Filler", b"a\0b")
            .bare(400),
    ]);
    let mut many = Case::new("200 headers", "GET", "/v1/users", Auth::Secret);
    for i in 0..200 {
        many = many.header(&format!("X-Filler-{i}"), "x");
    }
    cases.push(many.bare(431));
}

fn path_and_method_cases(cases: &mut Vec<Case>, f: &Fixture) {
    let fapi = |name: &str, method: &str, path: &str, auth: Auth| {
        Case::new(name, method, format!("/fapi/v1{path}"), auth)
    };
    cases.extend([
        Case::new("unknown method FOO", "FOO", "/v1/users", Auth::Secret).err(
            405,
            "method_not_allowed",
            None,
        ),
        Case::new("DELETE /v1/jwks", "DELETE", "/v1/jwks", Auth::Secret).err(
            405,
            "method_not_allowed",
            None,
        ),
        Case::new(
            "GET on a POST-only route",
            "GET",
            format!("/v1/users/{}/ban", f.user),
            Auth::Secret,
        )
        .err(405, "method_not_allowed", None),
        Case::new(
            "raw ../ out of /v1",
            "GET",
            "/v1/../../etc/passwd",
            Auth::Secret,
        )
        .err(404, NOT_FOUND, None),
        Case::new("raw ../ without a key", "GET", "/v1/../healthz", Auth::None).err(
            401,
            "authorization_header_format_invalid",
            None,
        ),
        Case::new(
            "raw ../ between routes",
            "GET",
            format!("/v1/sessions/../users/{}", f.user),
            Auth::Secret,
        )
        .err(404, NOT_FOUND, None),
        Case::new(
            "encoded ../ under /v1",
            "GET",
            "/v1/users/%2e%2e/%2e%2e/healthz",
            Auth::Secret,
        )
        .err(404, NOT_FOUND, None),
        Case::new(
            "encoded ../ under /avatars",
            "GET",
            "/avatars/..%2f..%2fetc%2fpasswd",
            Auth::None,
        )
        .err(404, NOT_FOUND, None),
        Case::new(
            "raw ../ from the avatar",
            "GET",
            "/avatars/../../etc/passwd",
            Auth::None,
        )
        .err(404, NOT_FOUND, None),
        // Bytes that cannot be in a request line: hyper refuses it before routing.
        Case::new(
            "raw NUL in the path",
            "GET",
            b"/v1/users/user_\0",
            Auth::Secret,
        )
        .bare(400),
        Case::new(
            "raw space in the path",
            "GET",
            b"/v1/users/user_1 OR 1=1",
            Auth::Secret,
        )
        .bare(400),
        // Endpoints that take no input: hostile input is ignored and the answer is the usual one.
        fapi(
            "GET /fapi/v1/environment | hostile query and 64 KB header",
            "GET",
            "/environment?x=%00%FF'%20OR%201=1",
            Auth::None,
        )
        .header("X-Filler", "f".repeat(64 * 1024))
        .accepted("the environment", |v| v["object"] == "environment"),
        fapi(
            "PATCH /fapi/v1/environment | malformed JSON body",
            "PATCH",
            "/environment",
            Auth::None,
        )
        .json("{\"a\":")
        .accepted("the environment", |v| v["object"] == "environment"),
        Case::new(
            "GET /fapi/.well-known/jwks.json | hostile query",
            "GET",
            "/fapi/.well-known/jwks.json?kid=%00'%20OR%201=1",
            Auth::None,
        )
        .accepted("the key set", |v| v["keys"].is_array()),
        Case::new(
            "GET /healthz | hostile query",
            "GET",
            "/healthz?x=%00..%2F",
            Auth::None,
        )
        .accepted("ok", |v| v["status"] == "ok"),
        // Paths and methods the Frontend API does not know.
        fapi("GET /fapi/v1/nowhere", "GET", "/nowhere", Auth::None)
            .err(404, NOT_FOUND, None)
            .bug(FAPI_FALLBACK),
        Case::new(
            "raw ../ out of /fapi/v1",
            "GET",
            "/fapi/v1/../../v1/users",
            Auth::None,
        )
        .err(404, NOT_FOUND, None)
        .bug(FAPI_FALLBACK),
        Case::new(
            "encoded ../ under /fapi/v1",
            "GET",
            "/fapi/v1/%2e%2e/%2e%2e/v1/users",
            Auth::None,
        )
        .err(404, NOT_FOUND, None)
        .bug(FAPI_FALLBACK),
        fapi("PUT /fapi/v1/client", "PUT", "/client", Auth::None)
            .err(405, "method_not_allowed", None)
            .bug(FAPI_FALLBACK),
        fapi(
            "POST /fapi/v1/client/sign_ins?_method=DELETE",
            "POST",
            "/client/sign_ins?_method=DELETE",
            Auth::None,
        )
        .form("identifier=x")
        .err(405, "method_not_allowed", None)
        .bug(FAPI_FALLBACK),
        fapi(
            "POST /fapi/v1/me?_method=PUT",
            "POST",
            "/me?_method=PUT",
            Auth::Browser,
        )
        .form("first_name=Mallory")
        .err(405, "method_not_allowed", None)
        .bug(FAPI_FALLBACK),
    ]);
}

/// Every Frontend API endpoint that reads a body (forms from clerk-js, JSON from others), with
/// malformed, oversized and mis-framed bodies. Signed in where the endpoint needs it.
fn fapi_body_cases(cases: &mut Vec<Case>, f: &Fixture) {
    for (method, path, auth) in [
        ("PATCH", "/me".to_owned(), Auth::Browser),
        ("PATCH", "/me/metadata".to_owned(), Auth::Browser),
        ("POST", "/client/sign_ups".to_owned(), Auth::None),
        (
            "PATCH",
            format!("/client/sign_ups/{}", f.sign_up),
            Auth::Browser,
        ),
        ("POST", "/client/sign_ins".to_owned(), Auth::None),
        (
            "POST",
            format!("/client/sign_ins/{}/attempt_first_factor", f.sign_in),
            Auth::Browser,
        ),
    ] {
        let c = |what: &str| {
            Case::new(
                format!("{method} /fapi/v1{path} | {what}"),
                method,
                format!("/fapi/v1{path}"),
                auth,
            )
        };
        let bad = |what: &str, body: &[u8]| c(what).json(body).err(400, BODY_INVALID, None);
        cases.extend([
            bad("JSON: truncated", b"{\"first_name\": \"a"),
            bad("JSON: an array", b"[1]"),
            bad("JSON: invalid UTF-8", b"{\"first_name\": \"\xff\"}"),
            bad(
                "JSON: nested 100,000 levels",
                &with(b"{\"unsafe_metadata\": ", &nested("[", 100_000, "]"), b"}"),
            ),
            c("600 KB form")
                .form(with(b"first_name=", "a".repeat(OVERSIZED).as_bytes(), b""))
                .err(413, TOO_LARGE, None),
        ]);
        cases.extend(broken_framing(
            &c,
            "application/x-www-form-urlencoded",
            b"x=1",
            b"first_name=x",
        ));
    }
    cases.extend([
        Case::new(
            "POST /fapi/v1/client/sign_ups | 100 MB form",
            "POST",
            "/fapi/v1/client/sign_ups",
            Auth::None,
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Body::Stream {
            len: 100 * MB as u64,
            chunked: false,
        })
        .err(413, TOO_LARGE, None),
        Case::new(
            "PATCH /fapi/v1/me/metadata | 100 MB form, chunked",
            "PATCH",
            "/fapi/v1/me/metadata",
            Auth::Browser,
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Body::Stream {
            len: 100 * MB as u64,
            chunked: true,
        })
        .err(413, TOO_LARGE, None),
    ]);
}

/// Method, path, caller, form body, status, code, `meta.param_name`.
type FormCase<'a> = (
    &'a str,
    &'a str,
    Auth,
    Vec<u8>,
    u16,
    &'static str,
    Option<&'a str>,
);

/// Frontend API fields: NUL, invalid UTF-8, SQL, privileged tiers, deep and oversized metadata,
/// duplicate keys. Each request is refused whole: a valid field beside a bad one is not stored.
#[rustfmt::skip]
fn fapi_field_cases(cases: &mut Vec<Case>, f: &Fixture) {
    let deep = with(b"unsafe_metadata=", &nested("[", 100_000, "]"), b"");
    let big = format!("unsafe_metadata=%7B%22k%22%3A%22{}%22%7D", "x".repeat(9000)).into_bytes();
    let sign_up = format!("/client/sign_ups/{}", f.sign_up);
    let factor = format!("/client/sign_ins/{}/attempt_first_factor", f.sign_in);
    let new = |rest: &[u8]| with(b"email_address=new%40example.com&password=long%20enough%20pw&", rest, b"");
    let forms: Vec<FormCase> = vec![
        ("PATCH", "/me", Auth::Browser, b"first_name=a%00b".to_vec(), 422, VALUE_INVALID, Some("first_name")),
        ("PATCH", "/me", Auth::Browser, b"first_name=a&first_name=b".to_vec(), 422, TYPE_INVALID, Some("first_name")),
        ("PATCH", "/me", Auth::Browser, b"username=%FF%FE%FD%FC".to_vec(), 422, FORMAT_INVALID, Some("username")),
        ("PATCH", "/me", Auth::Browser, b"username=user_1;%20DROP%20TABLE%20users".to_vec(), 422, FORMAT_INVALID, Some("username")),
        ("PATCH", "/me", Auth::Browser, b"public_metadata=%7B%22role%22%3A%22admin%22%7D".to_vec(), 422, UNKNOWN, Some("public_metadata")),
        ("PATCH", "/me", Auth::Browser, b"private_metadata=%7B%7D".to_vec(), 422, UNKNOWN, Some("private_metadata")),
        ("PATCH", "/me", Auth::Browser, b"first_name=Mallory&unsafe_metadata=%7B".to_vec(), 422, VALUE_INVALID, Some("unsafe_metadata")),
        ("PATCH", "/me", Auth::Browser, b"unsafe_metadata=%5B1%5D".to_vec(), 422, VALUE_INVALID, Some("unsafe_metadata")),
        ("PATCH", "/me", Auth::Browser, deep.clone(), 422, VALUE_INVALID, Some("unsafe_metadata")),
        ("PATCH", "/me", Auth::Browser, big.clone(), 422, TOO_BIG, Some("unsafe_metadata")),
        ("PATCH", "/me/metadata", Auth::Browser, b"unsafe_metadata=%00".to_vec(), 422, VALUE_INVALID, Some("unsafe_metadata")),
        ("PATCH", "/me/metadata", Auth::Browser, b"first_name=x".to_vec(), 422, MISSING, Some("unsafe_metadata")),
        ("PATCH", "/me/metadata", Auth::Browser, b"unsafe_metadata=%7B%7D&public_metadata=%7B%7D".to_vec(), 422, UNKNOWN, Some("public_metadata")),
        ("PATCH", "/me/metadata", Auth::Browser, b"unsafe_metadata=%7B%7D&unsafe_metadata=%7B%7D".to_vec(), 422, VALUE_INVALID, Some("unsafe_metadata")),
        ("PATCH", "/me/metadata", Auth::Browser, deep.clone(), 422, VALUE_INVALID, Some("unsafe_metadata")),
        ("PATCH", "/me/metadata", Auth::Browser, big.clone(), 422, TOO_BIG, Some("unsafe_metadata")),
        ("POST", "/client/sign_ups", Auth::None, b"email_address=a%00%40example.com&password=long%20enough%20pw".to_vec(), 422, FORMAT_INVALID, Some("email_address")),
        ("POST", "/client/sign_ups", Auth::None, b"email_address='%20OR%201=1%20--&password=long%20enough%20pw".to_vec(), 422, FORMAT_INVALID, Some("email_address")),
        ("POST", "/client/sign_ups", Auth::None, b"email_address=a%40example.com&email_address=b%40example.com".to_vec(), 422, TYPE_INVALID, Some("email_address")),
        ("POST", "/client/sign_ups", Auth::None, b"email_address=new%40example.com&password=short".to_vec(), 422, "form_password_length_too_short", Some("password")),
        ("POST", "/client/sign_ups", Auth::None, new(b"public_metadata=%7B%22role%22%3A%22admin%22%7D"), 422, UNKNOWN, Some("public_metadata")),
        ("POST", "/client/sign_ups", Auth::None, new(b"unsafe_metadata=%5B"), 422, VALUE_INVALID, Some("unsafe_metadata")),
        ("POST", "/client/sign_ups", Auth::None, new(&deep), 422, VALUE_INVALID, Some("unsafe_metadata")),
        ("POST", "/client/sign_ups", Auth::None, new(b"username=%FF%FF%FF%FF"), 422, FORMAT_INVALID, Some("username")),
        ("POST", "/client/sign_ups", Auth::None, new(b"first_name=%00"), 422, VALUE_INVALID, Some("first_name")),
        ("POST", "/client/sign_ups", Auth::None, b"email_address=u%40example.com&password=long%20enough%20pw".to_vec(), 422, "form_identifier_exists", Some("email_address")),
        ("PATCH", &sign_up, Auth::Browser, b"email_address=%00".to_vec(), 422, FORMAT_INVALID, Some("email_address")),
        ("PATCH", &sign_up, Auth::Browser, b"password=long%20enough%20pw&private_metadata=%7B%7D".to_vec(), 422, UNKNOWN, Some("private_metadata")),
        ("PATCH", &sign_up, Auth::Browser, b"password=long%20enough%20pw&unsafe_metadata=null%00".to_vec(), 422, VALUE_INVALID, Some("unsafe_metadata")),
        ("PATCH", &sign_up, Auth::Browser, b"password=x%00".to_vec(), 422, "form_password_length_too_short", Some("password")),
        ("POST", "/client/sign_ins", Auth::None, b"identifier=a&identifier=b".to_vec(), 422, TYPE_INVALID, Some("identifier")),
        ("POST", "/client/sign_ins", Auth::None, b"identifier=u%40example.com&password=a&password=b&strategy=password".to_vec(), 422, TYPE_INVALID, Some("password")),
        ("POST", &factor, Auth::Browser, b"strategy=%00".to_vec(), 422, VALUE_INVALID, Some("strategy")),
        ("POST", &factor, Auth::Browser, b"strategy=password".to_vec(), 422, MISSING, Some("password")),
        ("POST", &factor, Auth::Browser, b"strategy=password&strategy=password&password=x".to_vec(), 422, TYPE_INVALID, Some("strategy")),
        ("POST", &factor, Auth::Browser, b"strategy='%20OR%201=1%20--&password=x".to_vec(), 422, VALUE_INVALID, Some("strategy")),
    ];
    for (method, path, auth, body, status, code, param) in forms {
        let shown: String = String::from_utf8_lossy(&body).chars().take(80).collect();
        cases.push(
            Case::new(format!("{method} /fapi/v1{path} | {shown}"), method, format!("/fapi/v1{path}"), auth)
                .form(body).err(status, code, param),
        );
    }
    let json_cases: Vec<(&str, &str, Auth, &str, &str, &str)> = vec![
        ("PATCH", "/me", Auth::Browser, r#"{"first_name": 5}"#, TYPE_INVALID, "first_name"),
        ("PATCH", "/me/metadata", Auth::Browser, r#"{"unsafe_metadata": "x"}"#, VALUE_INVALID, "unsafe_metadata"),
        ("PATCH", "/me/metadata", Auth::Browser, r#"{"unsafe_metadata": [1]}"#, VALUE_INVALID, "unsafe_metadata"),
        ("POST", "/client/sign_ups", Auth::None, r#"{"email_address": {}}"#, TYPE_INVALID, "email_address"),
    ];
    for (method, path, auth, body, code, param) in json_cases {
        cases.push(
            Case::new(format!("{method} /fapi/v1{path} | JSON {body}"), method, format!("/fapi/v1{path}"), auth)
                .json(body).err(422, code, Some(param)),
        );
    }
    cases.push(
        Case::new("PATCH /fapi/v1/me | first_name=%FF%FE (invalid UTF-8)", "PATCH", "/fapi/v1/me", Auth::Browser)
            .form("first_name=%FF%FE").err(422, FORMAT_INVALID, Some("first_name")).bug(FORM_LOSSY),
    );
    // Sign-ins naming nobody. The 422 is right, but a client row is stored on the way.
    for (label, identifier) in [
        ("SQL ' OR 1=1 --", "'%20OR%201=1%20--"),
        ("SQL ; DROP TABLE", "x%3B%20DROP%20TABLE%20users%3B--"),
        ("LIKE wildcard", "%25%40%25"),
        ("NUL", "u%00%40example.com"),
        ("invalid UTF-8", "%FF%FE%40example.com"),
    ] {
        // A form value that is not UTF-8 is refused as such, before any lookup.
        let code = if label == "invalid UTF-8" { FORMAT_INVALID } else { "form_identifier_not_found" };
        cases.push(
            Case::new(format!("POST /fapi/v1/client/sign_ins | identifier: {label}"), "POST", "/fapi/v1/client/sign_ins", Auth::None)
                .form(format!("identifier={identifier}&strategy=password&password=x"))
                .err(422, code, Some("identifier"))
                .bug(ORPHAN_CLIENT),
        );
    }
    // The client address comes from the socket unless proxies are trusted: forwarding headers
    // are data, whatever they hold.
    for (label, value) in [
        ("SQL", b"' OR 1=1 --".to_vec()),
        ("64 KB", "f".repeat(64 * 1024).into_bytes()),
        ("invalid UTF-8", b"\xff\xfe, 127.0.0.1".to_vec()),
    ] {
        cases.push(
            Case::new(format!("POST /fapi/v1/client/sign_ins | X-Forwarded-For: {label}"), "POST", "/fapi/v1/client/sign_ins", Auth::None)
                .header("X-Forwarded-For", &value)
                .header("Forwarded", &value)
                .form("identifier=a&identifier=b")
                .err(422, TYPE_INVALID, Some("identifier")),
        );
    }
}

/// Hostile ids in every Frontend API path parameter, signed in, so that the id is what fails.
#[rustfmt::skip]
fn fapi_id_cases(cases: &mut Vec<Case>, f: &Fixture) {
    let endpoints: Vec<(&str, &str, &str, &str, &[u8])> = vec![
        ("PATCH", "sua", "/client/sign_ups/", "", b"first_name=x"),
        ("GET", "sia", "/client/sign_ins/", "", b""),
        ("POST", "sia", "/client/sign_ins/", "/attempt_first_factor", b"strategy=password&password=x"),
        ("POST", "sess", "/client/sessions/", "/touch", b""),
        ("POST", "sess", "/client/sessions/", "/tokens", b""),
        ("POST", "sess", "/client/sessions/", "/end", b""),
        ("POST", "sess", "/client/sessions/", "/remove", b""),
    ];
    let bug_for = |label: &str, prefix: &str, last_segment: bool| match label {
        "invalid UTF-8" => Some(Bug { why: PATH_NOT_UTF8, only_on: None }),
        // A session id goes to the store unchecked.
        "NUL" if prefix == "sess" => Some(Bug { why: PG_NUL, only_on: Some(Backend::Postgres) }),
        // An empty last segment matches no route, and there is no fallback.
        "empty" if last_segment => Some(Bug { why: FAPI_FALLBACK, only_on: None }),
        _ => None,
    };
    for (method, prefix, before, after, body) in endpoints {
        for (label, id) in hostile_ids(prefix) {
            let target = with(format!("/fapi/v1{before}").as_bytes(), &id, after.as_bytes());
            let mut case = Case::new(format!("{method} /fapi/v1{before}{{id}}{after} | id: {label}"), method, target, Auth::Browser);
            if !body.is_empty() {
                case = case.form(body);
            }
            cases.push(case.err(404, NOT_FOUND, None).maybe_bug(bug_for(label, prefix, after.is_empty())));
        }
    }
    for (label, id) in hostile_ids("sess") {
        let target = with(b"/fapi/v1/client/sessions/", &id, format!("/tokens/{}", f.template_name).as_bytes());
        cases.push(
            Case::new(format!("POST /fapi/v1/client/sessions/{{id}}/tokens/{{template}} | session id: {label}"), "POST", target, Auth::Browser)
                .err(404, NOT_FOUND, None).maybe_bug(bug_for(label, "sess", false)),
        );
        // The template is looked up by name before the session's checks.
        let target = with(format!("/fapi/v1/client/sessions/{}/tokens/", f.browser_session).as_bytes(), &id, b"");
        cases.push(
            Case::new(format!("POST /fapi/v1/client/sessions/{{id}}/tokens/{{template}} | template: {label}"), "POST", target, Auth::Browser)
                .err(404, NOT_FOUND, None).maybe_bug(bug_for(label, "sess", true)),
        );
    }
}

/// Who is asking: hostile `__client` values, session ids and Authorization headers. None of them
/// may act as the signed-in browser.
#[rustfmt::skip]
fn fapi_caller_cases(cases: &mut Vec<Case>, f: &Fixture) {
    let fapi = |name: String, method: &str, path: &str, auth: Auth| Case::new(name, method, format!("/fapi/v1{path}"), auth);
    let real_client_id = f.client_cookie.split('.').next().unwrap_or_default();
    let cookies: Vec<(&str, Vec<u8>)> = vec![
        ("64 KB", format!("__client={}", "c".repeat(64 * 1024)).into_bytes()),
        ("SQL", b"__client=' OR 1=1 --.x".to_vec()),
        ("well-shaped, unknown", format!("__client=client_{}.secret", "0".repeat(27)).into_bytes()),
        ("the real id with a wrong secret", format!("__client={real_client_id}.wrongsecret").into_bytes()),
        ("the real id without a secret", format!("__client={real_client_id}").into_bytes()),
        ("invalid UTF-8", b"__client=client_\xff.\xfe".to_vec()),
    ];
    for (label, cookie) in &cookies {
        cases.push(fapi(format!("GET /fapi/v1/me | cookie: {label}"), "GET", "/me", Auth::None).header("Cookie", cookie).err(401, UNAUTHENTICATED, None));
        cases.push(fapi(format!("PATCH /fapi/v1/me | cookie: {label}"), "PATCH", "/me", Auth::None).header("Cookie", cookie).form("first_name=Mallory").err(401, UNAUTHENTICATED, None));
        cases.push(fapi(format!("DELETE /fapi/v1/me | cookie: {label}"), "DELETE", "/me", Auth::None).header("Cookie", cookie).err(401, UNAUTHENTICATED, None));
        cases.push(fapi(format!("DELETE /fapi/v1/client/sessions | cookie: {label}"), "DELETE", "/client/sessions", Auth::None).header("Cookie", cookie).err(401, UNAUTHENTICATED, None));
        cases.push(fapi(format!("POST /fapi/v1/client/sessions/{{id}}/end | cookie: {label}"), "POST", &format!("/client/sessions/{}/end", f.browser_session), Auth::None).header("Cookie", cookie).err(401, UNAUTHENTICATED, None));
        cases.push(fapi(format!("GET /fapi/v1/client | cookie: {label}"), "GET", "/client", Auth::None).header("Cookie", cookie)
            .accepted("no client", |v| *v == json!({"response": null, "client": null})));
    }
    cases.push(fapi("GET /fapi/v1/me | 64 KB Authorization".into(), "GET", "/me", Auth::None).header("Authorization", format!("Bearer {}", "c".repeat(64 * 1024))).err(401, UNAUTHENTICATED, None));
    cases.push(fapi("GET /fapi/v1/me | the secret key as Authorization".into(), "GET", "/me", Auth::Secret).err(401, UNAUTHENTICATED, None));
    // hyper's head limit again: no envelope.
    cases.push(fapi("GET /fapi/v1/me | 1 MB cookie".into(), "GET", "/me", Auth::None).header("Cookie", format!("__client={}", "c".repeat(MB))).bare(431));
    let sixty_kb = "s".repeat(60_000);
    let sessions: Vec<(&str, &str)> = vec![
        ("SQL", "'%20OR%201=1%20--"),
        ("NUL", "sess_%00"),
        ("invalid UTF-8", "%FF"),
        ("60 KB", &sixty_kb),
        ("the Backend API's session of the same user", &f.session),
    ];
    for (label, sid) in sessions {
        cases.push(fapi(format!("GET /fapi/v1/me?_clerk_session_id= {label}"), "GET", &format!("/me?_clerk_session_id={sid}"), Auth::Browser).err(401, UNAUTHENTICATED, None));
        cases.push(fapi(format!("DELETE /fapi/v1/me?_clerk_session_id= {label}"), "DELETE", &format!("/me?_clerk_session_id={sid}"), Auth::Browser).err(401, UNAUTHENTICATED, None));
        cases.push(fapi(format!("PATCH /fapi/v1/me?_clerk_session_id= {label}"), "PATCH", &format!("/me?_clerk_session_id={sid}"), Auth::Browser).form("first_name=Mallory").err(401, UNAUTHENTICATED, None));
    }
    // Without a client, bodies never reach a write.
    cases.push(fapi("PATCH /fapi/v1/me/metadata | no client".into(), "PATCH", "/me/metadata", Auth::None).form("unsafe_metadata=%7B%22a%22%3A1%7D").err(401, UNAUTHENTICATED, None));
    cases.push(fapi("POST /fapi/v1/client/sessions/{id}/touch | no client".into(), "POST", &format!("/client/sessions/{}/touch", f.browser_session), Auth::None).err(401, UNAUTHENTICATED, None));
    cases.push(fapi("POST /fapi/v1/client/sign_ins/{id}/attempt_first_factor | no client".into(), "POST", &format!("/client/sign_ins/{}/attempt_first_factor", f.sign_in), Auth::None).form("strategy=password&password=correct%20horse%20battery").err(401, UNAUTHENTICATED, None));
}

// ---------------------------------------------------------------------------------------------
// What "nothing changed" means: the stored objects as the Backend API shows them, and the rows
// of every table a request could write (rate-limit counters, which refused attempts update by
// design, are left out).

const TABLES: &[&str] = &[
    "instance",
    "secret_keys",
    "users",
    "identifiers",
    "signing_keys",
    "settings",
    "sessions",
    "jwt_templates",
    "clients",
];

/// Where the rows are read from: SQLite's file, or one PostgreSQL connection kept for the run
/// (a `psql` per case would dominate the run time).
enum Tables {
    Sqlite(std::path::PathBuf),
    Postgres(Box<PostgresTables>),
}

struct PostgresTables {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Tables {
    fn open(server: &Server) -> Tables {
        match &server.database_url {
            None => Tables::Sqlite(server.data_dir.join("roster.db")),
            Some(url) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let client = runtime.block_on(async {
                    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                        .await
                        .expect("connect to PostgreSQL");
                    tokio::spawn(connection);
                    client
                });
                Tables::Postgres(Box::new(PostgresTables { runtime, client }))
            }
        }
    }

    fn rows(&self) -> Vec<String> {
        let mut rows = match self {
            Tables::Postgres(pg) => {
                let PostgresTables { runtime, client } = &**pg;
                let sql = TABLES
                    .iter()
                    .map(|t| format!("SELECT '{t}' || ' ' || x::text FROM {t} x"))
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ");
                runtime
                    .block_on(client.query(&sql, &[]))
                    .expect("read tables")
                    .iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect()
            }
            Tables::Sqlite(path) => {
                let db = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .expect("open roster.db");
                let mut rows = Vec::new();
                for t in TABLES {
                    let mut stmt = db.prepare(&format!("SELECT * FROM {t}")).expect("prepare");
                    let n = stmt.column_count();
                    let mut q = stmt.query([]).expect("query");
                    while let Some(row) = q.next().expect("row") {
                        let cols: Vec<String> = (0..n)
                            .map(|i| match row.get_ref(i).expect("column") {
                                rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                                rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                                rusqlite::types::ValueRef::Real(x) => x.to_string(),
                                rusqlite::types::ValueRef::Text(t) => {
                                    String::from_utf8_lossy(t).into_owned()
                                }
                                rusqlite::types::ValueRef::Blob(b) => format!("{b:02x?}"),
                            })
                            .collect();
                        rows.push(format!("{t} {}", cols.join(" | ")));
                    }
                }
                rows
            }
        };
        rows.sort();
        rows
    }
}

#[derive(PartialEq, Debug)]
struct Snapshot {
    api: Vec<(String, Value)>,
    rows: Vec<String>,
}

struct Harness {
    /// Dropping it stops the server.
    server: Server,
    addr: String,
    cookie: String,
    tables: Tables,
    _dir: tempfile::TempDir,
}

/// A fresh server. The per-address sign-in and sign-up limit is raised (not turned off) so the
/// limiter still counts every hostile identifier, but over a hundred refused attempts from
/// 127.0.0.1 are not answered with 429 instead of the refusal under test.
fn start() -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start_in(dir.path(), &[("ROSTER_AUTH_RATE_LIMIT_PER_IP", "10000/1m")]);
    let addr = server.url.trim_start_matches("http://").to_owned();
    Harness {
        tables: Tables::open(&server),
        server,
        addr,
        cookie: String::new(),
        _dir: dir,
    }
}

impl Harness {
    fn request(&self, case: &Case) -> std::io::Result<Reply> {
        let mut headers = Vec::new();
        match case.auth {
            Auth::None => {}
            Auth::Secret => headers.push((
                "Authorization".to_owned(),
                format!("Bearer {SECRET_KEY}").into_bytes(),
            )),
            Auth::Browser => headers.push((
                "Cookie".to_owned(),
                format!("__client={}", self.cookie).into_bytes(),
            )),
        }
        headers.extend(case.headers.iter().cloned());
        let body = match &case.body {
            Body::None => Body::None,
            Body::Bytes(b) => Body::Bytes(b.clone()),
            Body::Stream { len, chunked } => Body::Stream {
                len: *len,
                chunked: *chunked,
            },
            Body::Verbatim(b) => Body::Verbatim(b.clone()),
        };
        send(
            &self.addr,
            &Request {
                method: case.method.clone(),
                target: case.target.clone(),
                headers,
                body,
            },
        )
    }

    fn call(&self, method: &str, path: &str, auth: Auth, json_body: Option<Value>) -> (u16, Value) {
        let mut case = Case::new("setup", method, path, auth);
        if let Some(b) = json_body {
            case = case.json(serde_json::to_vec(&b).unwrap());
        }
        let reply = self.request(&case).expect("request");
        (reply.status, reply.json().unwrap_or(Value::Null))
    }

    fn form(&self, path: &str, cookie: Option<&str>, body: &str) -> Reply {
        let mut case = Case::new("setup", "POST", format!("/fapi/v1{path}"), Auth::None).form(body);
        if let Some(c) = cookie {
            case = case.header("Cookie", format!("__client={c}"));
        }
        self.request(&case).expect("request")
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = self.call("GET", path, Auth::Secret, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    fn snapshot(&self) -> Snapshot {
        let api = [
            "/v1/users?limit=500&order_by=created_at",
            "/v1/users/count",
            "/v1/sessions?limit=500",
            "/v1/jwt_templates?limit=500",
        ]
        .iter()
        .map(|p| ((*p).to_owned(), self.get(p)))
        .collect();
        Snapshot {
            api,
            rows: self.tables.rows(),
        }
    }

    fn healthy(&self) -> bool {
        let case = Case::new("healthz", "GET", "/healthz", Auth::None);
        self.request(&case).is_ok_and(|r| r.status == 200)
    }
}

/// Checks a reply against the case's expectation; the reasons it fails, if any.
fn judge(case: &Case, reply: &Reply) -> Vec<String> {
    let mut problems = Vec::new();
    if reply.status >= 500 {
        problems.push(format!("server error {}", reply.status));
    }
    let json_type = reply.header("content-type") == Some("application/json");
    match &case.expect {
        Expect::Error {
            status,
            code,
            param,
        } => {
            if reply.status != *status {
                problems.push(format!("status {} (expected {status})", reply.status));
            }
            if !json_type {
                problems.push(format!(
                    "content-type {:?} (expected exactly application/json)",
                    reply.header("content-type")
                ));
            }
            match reply.json() {
                None => problems.push("body is not JSON".into()),
                Some(body) => {
                    let e = &body["errors"][0];
                    if e["code"] != *code {
                        problems.push(format!("code {} (expected {code})", e["code"]));
                    }
                    for field in ["message", "long_message"] {
                        if e[field].as_str().is_none_or(str::is_empty) {
                            problems.push(format!("no {field}"));
                        }
                    }
                    let got = e["meta"]["param_name"].as_str();
                    if got != param.as_deref() {
                        problems.push(format!("meta.param_name {got:?} (expected {param:?})"));
                    }
                    if body["clerk_trace_id"].as_str().map(str::len) != Some(32) {
                        problems.push("no clerk_trace_id".into());
                    }
                }
            }
        }
        Expect::Bare(status) => {
            if reply.status != *status {
                problems.push(format!(
                    "status {} (expected a bare {status})",
                    reply.status
                ));
            }
        }
        Expect::Accepted(what, check) => {
            if reply.status != 200 || !json_type {
                problems.push(format!(
                    "status {} / content-type {:?} (expected 200 application/json)",
                    reply.status,
                    reply.header("content-type")
                ));
            }
            if !reply.json().is_some_and(|v| check(&v)) {
                problems.push(format!("body is not {what}"));
            }
        }
    }
    problems
}

fn set_up() -> (Harness, Fixture) {
    let mut h = start();
    let (status, user) = h.call(
        "POST",
        "/v1/users",
        Auth::Secret,
        Some(json!({
            "email_address": ["u@example.com"],
            "username": "hostileuser",
            "password": "correct horse battery",
            "first_name": "Ursula",
            "public_metadata": {"role": "member", "nested": {"a": [1, 2]}},
            "private_metadata": {"stripe": "cus_1"},
            "unsafe_metadata": {"theme": "dark"},
        })),
    );
    assert_eq!(status, 200, "{user}");
    let (status, bystander) = h.call(
        "POST",
        "/v1/users",
        Auth::Secret,
        Some(json!({"email_address": ["v@example.com"], "first_name": "Victor"})),
    );
    assert_eq!(status, 200, "{bystander}");
    let user_id = user["id"].as_str().unwrap().to_owned();
    let (status, session) = h.call(
        "POST",
        "/v1/sessions",
        Auth::Secret,
        Some(json!({"user_id": user_id})),
    );
    assert_eq!(status, 200, "{session}");
    let (status, template) = h.call(
        "POST",
        "/v1/jwt_templates",
        Auth::Secret,
        Some(json!({"name": "hostile", "claims": {"role": "{{user.public_metadata.role}}"}})),
    );
    assert_eq!(status, 200, "{template}");
    let (status, _) = h.call(
        "PUT",
        "/v1/instance/session_token_claims",
        Auth::Secret,
        Some(json!({"claims": {"role": "{{user.public_metadata.role}}"}})),
    );
    assert_eq!(status, 200);

    // A browser signed in as the user, with a sign-up left half done beside it: the sign-up
    // first, since a signed-in client starts none (single-session mode).
    let client_cookie = |reply: &Reply| {
        reply
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| v.strip_prefix("__client="))
            .and_then(|v| v.split(';').next())
            .expect("__client cookie")
            .to_owned()
    };
    let reply = h.form(
        "/client/sign_ups",
        None,
        "email_address=pending%40example.com",
    );
    let sign_up = reply.json().unwrap_or_default();
    assert_eq!(reply.status, 200, "{sign_up}");
    assert_eq!(sign_up["response"]["status"], "missing_requirements");
    let pending = client_cookie(&reply);
    let reply = h.form(
        "/client/sign_ins",
        Some(&pending),
        "identifier=u%40example.com&password=correct%20horse%20battery&strategy=password",
    );
    let body = reply.json().unwrap_or_default();
    assert_eq!(reply.status, 200, "{body}");
    let cookie = client_cookie(&reply);
    let check = Case::new("setup", "GET", "/fapi/v1/client", Auth::None)
        .header("Cookie", format!("__client={cookie}"));
    let client = h
        .request(&check)
        .expect("request")
        .json()
        .unwrap_or_default();
    assert_eq!(
        client["response"]["sign_up"]["status"], "missing_requirements",
        "the sign-up is still there beside the session: {client}"
    );
    h.cookie = cookie.clone();
    // The sign-in minted the user's first token of the day, whose activity record lands beside
    // the response: wait for it, so that no case's before-and-after comparison sees it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while h.get(&format!("/v1/users/{user_id}"))["last_active_at"].is_null() {
        assert!(
            std::time::Instant::now() < deadline,
            "last_active_at never recorded"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let fixture = Fixture {
        user: user_id,
        bystander: bystander["id"].as_str().unwrap().to_owned(),
        session: session["id"].as_str().unwrap().to_owned(),
        template_id: template["id"].as_str().unwrap().to_owned(),
        template_name: "hostile".into(),
        client_cookie: cookie,
        browser_session: body["response"]["created_session_id"]
            .as_str()
            .unwrap()
            .to_owned(),
        sign_in: body["response"]["id"].as_str().unwrap().to_owned(),
        sign_up: sign_up["response"]["id"].as_str().unwrap().to_owned(),
    };
    (h, fixture)
}

#[test]
fn hostile_input_is_refused_everywhere_and_changes_nothing() {
    let started = Instant::now();
    let (h, fixture) = set_up();
    let include_bugs = std::env::var("ROSTER_HOSTILE_BUGS").map_or(true, |v| v != "0");
    let backend = if h.server.database_url.is_some() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let cases = all_cases(&fixture);
    let mut baseline = h.snapshot();
    assert!(
        baseline.api[0].1.as_array().is_some_and(|a| a.len() == 2),
        "two users to start with"
    );
    assert!(baseline.rows.iter().any(|r| r.contains(&fixture.bystander)));

    let mut failures = Vec::new();
    let (mut ran, mut skipped) = (0, 0);
    for case in &cases {
        let bug = case.known_bug(backend);
        if bug.is_some() && !include_bugs {
            skipped += 1;
            continue;
        }
        ran += 1;
        let mut problems = match h.request(case) {
            Ok(reply) => judge(case, &reply)
                .into_iter()
                .map(|p| format!("{p}; body: {}", reply.snippet()))
                .collect(),
            Err(e) => vec![format!("no response: {e}")],
        };
        if !h.healthy() {
            problems.push("GET /healthz fails afterwards".into());
            failures.push(format!("{}: {}", case.name, problems.join("; ")));
            break;
        }
        let after = h.snapshot();
        if after != baseline {
            let changed: Vec<&String> = after
                .api
                .iter()
                .zip(&baseline.api)
                .filter(|(a, b)| a != b)
                .map(|(a, _)| &a.0)
                .collect();
            let new_rows: Vec<&String> = after
                .rows
                .iter()
                .filter(|r| !baseline.rows.contains(r))
                .take(3)
                .collect();
            problems.push(format!(
                "stored state changed: API {changed:?}, rows now {} (were {}), new or changed rows {new_rows:?}",
                after.rows.len(),
                baseline.rows.len()
            ));
            // Judge the next case against the state this one left, not this one's change again.
            baseline = after;
        }
        if !problems.is_empty() {
            let bug = bug
                .map(|b| format!(" [regression of a fixed bug: {b}]"))
                .unwrap_or_default();
            failures.push(format!("{}{bug}: {}", case.name, problems.join("; ")));
        }
    }
    eprintln!(
        "hostile input: {ran} cases run, {skipped} formerly-buggy cases skipped (ROSTER_HOSTILE_BUGS=0), {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {ran} hostile cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// NUL characters are legal JSON: in metadata keys and values they are stored and read back
/// exactly, on both backends (PostgreSQL refuses NUL in TEXT and `\u0000` in JSONB).
#[test]
fn nul_characters_in_metadata_round_trip() {
    let h = start();
    let metadata = json!({"k\u{0}ey": "va\u{0}lue", "nested": {"\u{0}": ["\u{0}"]}});
    let (status, user) = h.call(
        "POST",
        "/v1/users",
        Auth::Secret,
        Some(json!({"email_address": ["nul@example.com"], "public_metadata": metadata})),
    );
    assert_eq!(status, 200, "{user}");
    let id = user["id"].as_str().unwrap().to_owned();
    let (status, merged) = h.call(
        "PATCH",
        &format!("/v1/users/{id}/metadata"),
        Auth::Secret,
        Some(json!({"private_metadata": {"\u{0}": "\u{0}"}, "unsafe_metadata": {"a": "\u{0}"}})),
    );
    assert_eq!(status, 200, "{merged}");
    let got = h.get(&format!("/v1/users/{id}"));
    assert_eq!(got["public_metadata"], metadata);
    assert_eq!(got["private_metadata"], json!({"\u{0}": "\u{0}"}));
    assert_eq!(got["unsafe_metadata"], json!({"a": "\u{0}"}));
    assert!(h.healthy());
}

/// A client that connects and then sends its headers slowly, or never, is cut off after
/// `HEADER_READ_TIMEOUT` (30 s), as is an idle keep-alive connection: many such clients would
/// otherwise hold every file descriptor ("slowloris"). Backend-independent, so SQLite only.
#[test]
fn slow_or_silent_clients_are_cut_off() {
    if support::postgres_admin_url().is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start_in(dir.path(), &[]);
    let addr = server.url.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let clients: Vec<_> = [&b"GET /healthz HTTP/1.1\r\nHost: x\r\n"[..], b""]
        .into_iter()
        .map(|sent| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                s.write_all(sent).unwrap();
                let mut buf = [0u8; 64];
                // Closed: end of stream (or a reset), never a wait for the read timeout.
                match s.read(&mut buf) {
                    Ok(n) => assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&buf[..n])),
                    Err(e) => assert!(
                        !matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ),
                        "still open after 60 s"
                    ),
                }
            })
        })
        .collect();
    // Meanwhile everybody else is served.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    for c in clients {
        c.join().unwrap();
    }
    let waited = started.elapsed();
    assert!(
        (Duration::from_secs(25)..Duration::from_secs(50)).contains(&waited),
        "{waited:?}"
    );
}
