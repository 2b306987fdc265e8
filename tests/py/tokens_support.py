"""JWT helpers for test_sessions_tokens.py: decoding, and RS256 verification against a JWKS.

Signatures are checked twice, independently: with PyJWT (backed by `cryptography`, both in the
venv) and with a few lines of pure Python (RSASSA-PKCS1-v1_5 with SHA-256, RFC 8017 §8.2.2), so a
library quirk cannot hide a bad signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Dict, Iterable, Mapping, Tuple

import jwt as pyjwt

# Clerk's token categories, carried in the JWT header as `cat` (reference §8.2).
SESSION_TOKEN_CAT = "cl_B7d4PD111AAA"
TEMPLATE_TOKEN_CAT = "cl_B7d4PD222AAA"

# DER prefix of DigestInfo{sha256, OCTET STRING(32)} (RFC 8017 §9.2 note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_int(text: str) -> int:
    return int.from_bytes(b64url_decode(text), "big")


def split_jwt(token: str) -> Tuple[Dict[str, Any], Dict[str, Any], bytes, bytes]:
    """(header, claims, signing input, signature) of a compact JWS, without verifying it."""
    parts = token.split(".")
    assert len(parts) == 3, f"not a compact JWS: {token!r}"
    header = json.loads(b64url_decode(parts[0]))
    claims = json.loads(b64url_decode(parts[1]))
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), b64url_decode(parts[2])


def as_jwk_dict(key: Any) -> Dict[str, Any]:
    """A JWKS key as a plain dict, whether it came from the SDK (`models.Keys`) or raw JSON."""
    if isinstance(key, Mapping):
        return {k: v for k, v in key.items() if v is not None}
    return {k: v for k, v in key.model_dump().items() if v is not None}


def key_for(token: str, keys: Iterable[Any]) -> Dict[str, Any]:
    header, _, _, _ = split_jwt(token)
    by_kid = {k["kid"]: k for k in map(as_jwk_dict, keys)}
    assert header.get("kid") in by_kid, f"header kid {header.get('kid')!r} not in JWKS {list(by_kid)}"
    return by_kid[header["kid"]]


def verify_rs256_pure(token: str, jwk: Mapping[str, Any]) -> bool:
    """RSASSA-PKCS1-v1_5 / SHA-256 verification with nothing but pow()."""
    _, _, signing_input, signature = split_jwt(token)
    n, e = b64url_int(jwk["n"]), b64url_int(jwk["e"])
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    em = pow(s, e, n).to_bytes(k, "big")
    t = _SHA256_DIGEST_INFO + hashlib.sha256(signing_input).digest()
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return em == expected


def verify_rs256(token: str, keys: Iterable[Any], leeway: int = 5) -> Dict[str, Any]:
    """Verifies `token` against the JWKS both ways and returns its claims (exp/nbf/iat checked)."""
    jwk = key_for(token, keys)
    assert jwk.get("kty") == "RSA" and jwk.get("alg") == "RS256", jwk
    assert verify_rs256_pure(token, jwk), "pure-Python RS256 check rejected the signature"
    public_key = pyjwt.PyJWK(jwk).key
    return pyjwt.decode(
        token,
        public_key,
        algorithms=["RS256"],
        leeway=leeway,
        options={"verify_aud": False, "require": ["exp", "iat", "nbf", "iss", "sub"]},
    )


def tampered(token: str) -> str:
    """The same token with one claim changed and the original signature kept."""
    head, body, sig = token.split(".")
    claims = json.loads(b64url_decode(body))
    claims["sub"] = claims.get("sub", "") + "x"
    raw = json.dumps(claims, separators=(",", ":")).encode()
    return ".".join([head, base64.urlsafe_b64encode(raw).rstrip(b"=").decode(), sig])
