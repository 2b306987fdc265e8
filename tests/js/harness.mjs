// What every test file shares: one Roster server per file, an official Clerk client pointed at it,
// a raw-fetch helper for what the SDK cannot express, and assertions on Clerk's error envelope.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';

import { createClerkClient } from '@clerk/backend';
import { isClerkAPIResponseError } from '@clerk/backend/errors';

import { startServer } from './server.mjs';

/**
 * Registers before/after hooks that boot one server for the current test file. The returned object
 * is filled in by the `before` hook: use its fields inside tests only.
 *
 * `setup(ctx)` runs once the server is up, inside the same hook. (Node 20 starts sibling root-level
 * `before` hooks without awaiting each other, so a second root `before` could run before the server
 * is ready.)
 */
export function useServer({ setup } = {}) {
  const ctx = {
    /** @type {Awaited<ReturnType<typeof startServer>>} */ server: undefined,
    /** @type {ReturnType<typeof createClerkClient>} */ clerk: undefined,
    url: '',
    secretKey: '',
    /** Raw request against the server, authenticated with the right key unless told otherwise. */
    raw: (method, path, options = {}) => rawRequest(ctx, method, path, options),
  };

  before(
    async () => {
      ctx.server = await startServer();
      ctx.url = ctx.server.url;
      ctx.secretKey = ctx.server.secretKey;
      ctx.clerk = createClerkClient({ secretKey: ctx.secretKey, apiUrl: ctx.url });
      if (setup) await setup(ctx);
    },
    { timeout: 40_000 },
  );

  after(async () => {
    await ctx.server?.stop();
  });

  return ctx;
}

/**
 * fetch() against the server. `body` is JSON-encoded unless it is already a string, Buffer or
 * Uint8Array. `auth: false` leaves out Authorization; `auth: 'string'` sends that header value.
 * The response JSON (if any) is in `.json`, the raw text in `.text`.
 */
export async function rawRequest(ctx, method, path, { body, headers = {}, auth = true } = {}) {
  const finalHeaders = { ...headers };
  if (auth === true) finalHeaders.Authorization = `Bearer ${ctx.secretKey}`;
  else if (typeof auth === 'string') finalHeaders.Authorization = auth;

  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
    if (!Object.keys(finalHeaders).some((h) => h.toLowerCase() === 'content-type')) {
      finalHeaders['Content-Type'] = 'application/json';
    }
  }

  const res = await fetch(`${ctx.url}${path}`, { method, headers: finalHeaders, body: payload });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/**
 * Asserts that `promise` rejects with a ClerkAPIResponseError carrying the given status and, for the
 * first error, the given code and meta.paramName. Returns the error for further checks.
 */
export async function expectApiError(promise, { status, code, paramName }) {
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
  assert.equal(caught.status, status, `HTTP status; error was ${summary}`);
  assert.ok(caught.errors.length >= 1, `expected at least one parsed error (JSON body?): ${summary}`);
  const [first] = caught.errors;
  if (code !== undefined) assert.equal(first.code, code, `errors[0].code; error was ${summary}`);
  if (paramName !== undefined) {
    assert.equal(first.meta?.paramName, paramName, `errors[0].meta.paramName; error was ${summary}`);
  }
  assert.equal(typeof first.message, 'string');
  assert.ok(first.message.length > 0, 'errors[0].message is non-empty');
  assert.equal(typeof first.longMessage, 'string');
  assert.ok(first.longMessage.length > 0, 'errors[0].long_message is non-empty');
  // The SDK falls back to the cf-ray header, which Roster never sends: a non-empty trace id here
  // proves the body carried clerk_trace_id.
  assert.equal(typeof caught.clerkTraceId, 'string');
  assert.ok(caught.clerkTraceId.length > 0, 'clerk_trace_id is present in the error body');
  return caught;
}

/**
 * Asserts a raw response is a Clerk error envelope with the given status and first error code.
 */
export function assertErrorEnvelope(res, { status, code, paramName }) {
  assert.equal(res.status, status, `HTTP status; body was ${res.text.slice(0, 500)}`);
  assert.equal(res.headers.get('content-type'), 'application/json', 'error Content-Type');
  assert.ok(res.json && Array.isArray(res.json.errors), `body is an error envelope: ${res.text}`);
  assert.ok(res.json.errors.length >= 1, `at least one error: ${res.text}`);
  const [first] = res.json.errors;
  if (code !== undefined) assert.equal(first.code, code, `errors[0].code; body was ${res.text}`);
  if (paramName !== undefined) {
    assert.equal(first.meta?.param_name, paramName, `errors[0].meta.param_name; body was ${res.text}`);
  }
  for (const field of ['message', 'long_message', 'code']) {
    assert.equal(typeof first[field], 'string', `errors[0].${field} is a string`);
    assert.ok(first[field].length > 0, `errors[0].${field} is non-empty`);
  }
  assert.equal(typeof res.json.clerk_trace_id, 'string', 'clerk_trace_id is a string');
  assert.ok(res.json.clerk_trace_id.length > 0, 'clerk_trace_id is non-empty');
  return first;
}

/** A short random lowercase tag, to keep emails and usernames unique within one server. */
export function tag() {
  return randomBytes(5).toString('hex');
}

/** A fresh, unique email address. */
export function email(prefix = 'user') {
  return `${prefix}.${tag()}@example.com`;
}

/** A syntactically valid user id that no server has issued. */
export function unknownUserId() {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(27);
  return `user_${Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('')}`;
}

/** Byte length of the compact JSON serialization, the measure of Clerk's 8 KB metadata limit. */
export function compactSize(value) {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/**
 * A metadata object `{[key]: "xxx…"}` whose compact JSON is exactly `bytes` bytes long.
 * Uses only ASCII so characters and bytes coincide.
 */
export function metadataOfSize(bytes, key = 'blob') {
  const overhead = compactSize({ [key]: '' });
  const value = { [key]: 'x'.repeat(bytes - overhead) };
  assert.equal(compactSize(value), bytes);
  return value;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
