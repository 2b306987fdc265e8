// Helpers shared by sessions.test.mjs and tokens.test.mjs: JWT decoding without any verification
// (for claim assertions), independent RS256 checks with node:crypto, Session wire-shape checks and
// raw access to the custom-session-claims endpoint. Reference: backend-api.md §3, §8, §9 and
// frontend-api-and-tokens.md §4-§6.

import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify as cryptoVerify } from 'node:crypto';

import { verifyToken } from '@clerk/backend';
import { isClerkAPIResponseError } from '@clerk/backend/errors';

import { email } from './harness.mjs';

/** Decodes one base64url segment to a Buffer, insisting on the unpadded URL-safe alphabet. */
export function b64urlDecode(segment) {
  assert.match(segment, /^[A-Za-z0-9_-]*$/, `base64url segment without padding: ${segment.slice(0, 40)}`);
  return Buffer.from(segment, 'base64url');
}

export function b64urlEncode(data) {
  return Buffer.from(data).toString('base64url');
}

/**
 * Splits and decodes a compact JWS without verifying it.
 * @returns {{header: any, payload: any, payloadText: string, signature: Buffer, parts: string[]}}
 */
export function decodeJwt(jwt) {
  assert.equal(typeof jwt, 'string', 'the jwt is a string');
  const parts = jwt.split('.');
  assert.equal(parts.length, 3, `a compact JWS has three parts: ${jwt.slice(0, 80)}`);
  const header = JSON.parse(b64urlDecode(parts[0]).toString('utf8'));
  const payloadText = b64urlDecode(parts[1]).toString('utf8');
  const payload = JSON.parse(payloadText);
  const signature = b64urlDecode(parts[2]);
  return { header, payload, payloadText, signature, parts };
}

/** The token with one character of its payload segment changed (keeps it base64url-decodable). */
export function flipPayloadChar(jwt) {
  const [h, p, s] = jwt.split('.');
  // Change a character in the middle of the payload to a different one of the same 6-bit class
  // boundary-safe set, so the segment stays decodable but the signed bytes differ.
  const i = Math.floor(p.length / 2);
  const replacement = p[i] === 'A' ? 'B' : 'A';
  return `${h}.${p.slice(0, i)}${replacement}${p.slice(i + 1)}.${s}`;
}

/** The token with its payload re-encoded after `mutate(payload)`, keeping the original signature. */
export function forgePayload(jwt, mutate) {
  const [h, p, s] = jwt.split('.');
  const payload = JSON.parse(b64urlDecode(p).toString('utf8'));
  mutate(payload);
  return `${h}.${b64urlEncode(JSON.stringify(payload))}.${s}`;
}

/** Verifies an RS256 compact JWS against a JWK with node:crypto, independently of @clerk/backend. */
export function rs256VerifiesWith(jwt, jwk) {
  const [h, p, s] = jwt.split('.');
  const key = createPublicKey({ key: { kty: jwk.kty, n: jwk.n, e: jwk.e }, format: 'jwk' });
  return cryptoVerify('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
}

/** SPKI PEM of a public JWK: what the Dashboard calls "PEM Public Key" (CLERK_JWT_KEY). */
export function jwkToPem(jwk) {
  const key = createPublicKey({ key: { kty: jwk.kty, n: jwk.n, e: jwk.e }, format: 'jwk' });
  return key.export({ type: 'spki', format: 'pem' });
}

/** verifyToken from @clerk/backend, pointed at this server's JWKS (GET {url}/v1/jwks). */
export function verifyWithServer(ctx, jwt, options = {}) {
  return verifyToken(jwt, { secretKey: ctx.secretKey, apiUrl: ctx.url, ...options });
}

/**
 * Asserts `promise` rejects with a TokenVerificationError (from verifyToken); returns the error.
 * `reason`, when given, must match err.reason.
 */
export async function expectVerifyFailure(promise, { reason } = {}) {
  let caught;
  await assert.rejects(promise, (err) => {
    caught = err;
    return true;
  });
  assert.equal(typeof caught?.reason, 'string', `a TokenVerificationError with a reason, got ${caught}`);
  if (reason !== undefined) {
    assert.equal(caught.reason, reason, `verification failure reason; message: ${caught.message}`);
  }
  return caught;
}

/**
 * Asserts `promise` rejects with a ClerkAPIResponseError whose status is a 4xx and whose first
 * error carries a string code. Returns the error.
 */
export async function expectClientError(promise) {
  let caught;
  await assert.rejects(promise, (err) => {
    caught = err;
    return true;
  });
  assert.ok(
    isClerkAPIResponseError(caught),
    `expected a ClerkAPIResponseError, got ${caught?.name}: ${caught?.message}`,
  );
  const summary = JSON.stringify({ status: caught.status, errors: caught.errors });
  assert.ok(caught.status >= 400 && caught.status < 500, `a 4xx status; error was ${summary}`);
  assert.ok(caught.errors.length >= 1, `at least one parsed error: ${summary}`);
  assert.equal(typeof caught.errors[0].code, 'string', `errors[0].code is a string: ${summary}`);
  return caught;
}

export function assertRecentMillis(value, label) {
  assert.equal(typeof value, 'number', `${label} is a number`);
  assert.ok(Number.isInteger(value), `${label} is an integer`);
  assert.ok(Math.abs(value - Date.now()) < 120_000, `${label}=${value} is within 2 min of now (ms)`);
}

export function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

export const SESSION_ID = /^sess_[0-9A-Za-z]+$/;
export const CLIENT_ID = /^client_[0-9A-Za-z]+$/;
export const TEMPLATE_ID = /^jtmpl_[0-9A-Za-z]+$/;
export const INSTANCE_KID = /^ins_[0-9A-Za-z]+$/;

/** Session fields §3 marks required. */
export const REQUIRED_SESSION_FIELDS = [
  'id', 'user_id', 'client_id', 'status', 'last_active_at', 'expire_at', 'abandon_at',
  'updated_at', 'created_at',
];

/** Session statuses §3 allows on the wire. */
export const SESSION_STATUSES = [
  'active', 'revoked', 'ended', 'expired', 'removed', 'abandoned', 'replaced', 'pending',
];

/** Asserts a raw (snake_case) Session object carries every required field with the right type. */
export function assertSessionWire(raw, { userId, status } = {}) {
  assert.equal(raw?.object, 'session', `object is "session": ${JSON.stringify(raw)}`);
  for (const field of REQUIRED_SESSION_FIELDS) {
    assert.ok(field in raw, `Session.${field} is present on the wire`);
  }
  assert.match(raw.id, SESSION_ID);
  assert.match(raw.client_id, CLIENT_ID);
  assert.ok(SESSION_STATUSES.includes(raw.status), `status ${raw.status} is a §3 enum value`);
  if (userId !== undefined) assert.equal(raw.user_id, userId);
  if (status !== undefined) assert.equal(raw.status, status);
  for (const field of ['last_active_at', 'updated_at', 'created_at']) {
    assertRecentMillis(raw[field], `Session.${field}`);
  }
  for (const field of ['expire_at', 'abandon_at']) {
    assert.ok(Number.isInteger(raw[field]), `Session.${field} is an integer`);
    // Milliseconds in the future (a seconds value would be ~1970 in ms terms).
    assert.ok(
      raw[field] > Date.now() - 120_000,
      `Session.${field}=${raw[field]} is a ms timestamp not in the past`,
    );
  }
  // Optional-and-nullable fields, if sent, have the right type.
  if ('actor' in raw) assert.ok(raw.actor === null || typeof raw.actor === 'object');
  if ('last_active_organization_id' in raw) {
    const org = raw.last_active_organization_id;
    assert.ok(org === null || typeof org === 'string', 'last_active_organization_id is a string or null');
  }
  if ('tasks' in raw) assert.ok(raw.tasks === null || Array.isArray(raw.tasks));
}

/** Creates a user (any extra createUser params) and an active session for them. */
export async function userWithSession(ctx, params = {}) {
  const user = await ctx.clerk.users.createUser({ emailAddress: [email('sess')], ...params });
  const session = await ctx.clerk.sessions.createSession({ userId: user.id });
  return { user, session };
}

/** A syntactically plausible id with the given prefix that no server has issued. */
export function unknownId(prefix) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return `${prefix}_${Array.from(randomBytes(27), (b) => alphabet[b % alphabet.length]).join('')}`;
}

/** GET /v1/instance/session_token_claims (not in the SDK). */
export function getSessionClaims(ctx) {
  return ctx.raw('GET', '/v1/instance/session_token_claims');
}

/** PUT /v1/instance/session_token_claims with body `{claims}` (or a raw body via `body`). */
export function putSessionClaims(ctx, claims, { body } = {}) {
  return ctx.raw('PUT', '/v1/instance/session_token_claims', { body: body ?? { claims } });
}

/** Decoded claims of a fresh session token for `sessionId`. */
export async function sessionTokenClaims(ctx, sessionId) {
  const { jwt } = await ctx.clerk.sessions.getToken(sessionId);
  return { jwt, ...decodeJwt(jwt) };
}

/**
 * Starts `roster serve` on a given data directory (which survives stop(), unlike server.mjs's
 * servers), for restart tests. Resolves to {url, stop}.
 */
export async function spawnRosterOn(dataDir, secretKey) {
  const { spawn } = await import('node:child_process');
  const { createInterface } = await import('node:readline');
  const { rosterBinary } = await import('./server.mjs');
  const child = spawn(rosterBinary(), ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, ROSTER_SECRET_KEY: secretKey, RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c) => {
    log = (log + c).slice(-16_384);
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`roster did not start:\n${log}`)), 30_000);
    exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`roster exited early:\n${log}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  return {
    url,
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const done = await Promise.race([
        exited.then(() => true),
        new Promise((r) => setTimeout(() => r(false), 5_000).unref()),
      ]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
