// What the SDK cannot express, checked with raw fetch: auth header handling, the error envelope's
// exact Content-Type and trace id, malformed and oversized bodies, empty bodies, API versioning of
// PATCH /users/{id}, and raw response shapes. Reference: backend-api.md §1, §4, §5, §6.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { assertErrorEnvelope, email, unknownUserId, useServer } from './harness.mjs';

const ctx = useServer();

const NEW_API = { 'Clerk-API-Version': '2026-05-12' };

async function createRawUser(extra = {}) {
  const res = await ctx.raw('POST', '/v1/users', { body: { email_address: [email('wire')], ...extra } });
  assert.equal(res.status, 200, `create user: ${res.text}`);
  return res.json;
}

async function countUsers() {
  const res = await ctx.raw('GET', '/v1/users/count');
  assert.equal(res.status, 200, res.text);
  return res.json.total_count;
}

describe('health', () => {
  test('GET /healthz is 200 without auth', async () => {
    const res = await ctx.raw('GET', '/healthz', { auth: false });
    assert.equal(res.status, 200, res.text);
  });
});

describe('authentication (§6.2, §7)', () => {
  test('a missing Authorization header is 401 authorization_header_format_invalid', async () => {
    const res = await ctx.raw('GET', '/v1/users', { auth: false });
    assertErrorEnvelope(res, { status: 401, code: 'authorization_header_format_invalid' });
  });

  test('a non-Bearer or empty Authorization header is 401 authorization_header_format_invalid', async () => {
    for (const header of [`Basic ${Buffer.from('a:b').toString('base64')}`, 'Bearer', ctx.secretKey]) {
      const res = await ctx.raw('GET', '/v1/users', { auth: header });
      assertErrorEnvelope(res, { status: 401, code: 'authorization_header_format_invalid' });
    }
  });

  test('a well-formed but wrong key is 401 clerk_key_invalid', async () => {
    const res = await ctx.raw('GET', '/v1/users', { auth: 'Bearer sk_test_0000000000000000000000' });
    assertErrorEnvelope(res, { status: 401, code: 'clerk_key_invalid' });
  });

  test('auth is checked before routing: an unknown path without a key is 401', async () => {
    const res = await ctx.raw('GET', '/v1/no_such_endpoint', { auth: false });
    assertErrorEnvelope(res, { status: 401, code: 'authorization_header_format_invalid' });
  });
});

describe('response shapes and headers (§1, §3, §4)', () => {
  test('success responses are exactly application/json', async () => {
    const user = await createRawUser();
    const res = await ctx.raw('GET', `/v1/users/${user.id}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(res.json.object, 'user');
    assert.equal(res.json.id, user.id);
  });

  test('404 envelope: exact Content-Type, all three message fields, clerk_trace_id', async () => {
    const res = await ctx.raw('GET', `/v1/users/${unknownUserId()}`);
    assertErrorEnvelope(res, { status: 404, code: 'resource_not_found' });
  });

  test('GET /v1/users is a bare array; /v1/users/count is a total_count object', async () => {
    await createRawUser();
    const list = await ctx.raw('GET', '/v1/users?limit=1');
    assert.equal(list.status, 200);
    assert.ok(Array.isArray(list.json), `bare array: ${list.text.slice(0, 200)}`);
    assert.equal(list.json.length, 1);
    assert.equal(list.json[0].object, 'user');

    const count = await ctx.raw('GET', '/v1/users/count');
    assert.equal(count.status, 200);
    assert.equal(count.json.object, 'total_count');
    assert.ok(Number.isInteger(count.json.total_count) && count.json.total_count >= 1);
  });

  test('DELETE returns {object:"user", id, deleted:true}', async () => {
    const user = await createRawUser();
    const res = await ctx.raw('DELETE', `/v1/users/${user.id}`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(
      { object: res.json.object, id: res.json.id, deleted: res.json.deleted },
      { object: 'user', id: user.id, deleted: true },
    );
  });
});

describe('request bodies (§1, §5)', () => {
  test('malformed JSON is 400 request_body_invalid and creates nothing', async () => {
    const before = await countUsers();
    const res = await ctx.raw('POST', '/v1/users', {
      body: '{"email_address": ["broken@example.com"], ',
      headers: { 'Content-Type': 'application/json' },
    });
    assertErrorEnvelope(res, { status: 400, code: 'request_body_invalid' });
    assert.equal(await countUsers(), before);
  });

  test('an unknown body parameter is 422 form_param_unknown with meta.param_name', async () => {
    const before = await countUsers();
    const res = await ctx.raw('POST', '/v1/users', {
      body: { email_address: [email('unknown')], favourite_colour: 'teal' },
    });
    assertErrorEnvelope(res, { status: 422, code: 'form_param_unknown', paramName: 'favourite_colour' });
    assert.equal(await countUsers(), before);
  });

  test('an unknown parameter on PATCH /metadata is 422 form_param_unknown', async () => {
    const user = await createRawUser({ public_metadata: { a: 1 } });
    const res = await ctx.raw('PATCH', `/v1/users/${user.id}/metadata`, {
      body: { public_metadata: { b: 2 }, publicMetadata: { c: 3 } },
    });
    assertErrorEnvelope(res, { status: 422, code: 'form_param_unknown', paramName: 'publicMetadata' });
    const after = await ctx.raw('GET', `/v1/users/${user.id}`);
    assert.deepEqual(after.json.public_metadata, { a: 1 });
  });

  test('POST /users/{id}/ban with Content-Type JSON and no body works (what the SDK sends)', async () => {
    const user = await createRawUser();
    const banned = await ctx.raw('POST', `/v1/users/${user.id}/ban`, {
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(banned.status, 200, banned.text);
    assert.equal(banned.json.banned, true);

    const unbanned = await ctx.raw('POST', `/v1/users/${user.id}/unban`, {
      body: '',
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(unbanned.status, 200, unbanned.text);
    assert.equal(unbanned.json.banned, false);
  });

  test('PATCH /users/{id}/metadata with an empty JSON body is a no-op', async () => {
    const user = await createRawUser({ private_metadata: { p: 1 } });
    const res = await ctx.raw('PATCH', `/v1/users/${user.id}/metadata`, {
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.private_metadata, { p: 1 });
  });

  test('a 2 MB body is 413', async () => {
    const before = await countUsers();
    const body = JSON.stringify({
      email_address: [email('huge')],
      public_metadata: { blob: 'x'.repeat(2 * 1024 * 1024) },
    });
    let res;
    try {
      res = await ctx.raw('POST', '/v1/users', { body });
    } catch (err) {
      assert.fail(`the server should answer 413, not drop the connection: ${err.cause ?? err}`);
    }
    assertErrorEnvelope(res, { status: 413, code: 'request_body_too_large' });
    assert.equal(await countUsers(), before);
  });
});

describe('content types (§1)', () => {
  test('a non-JSON Content-Type on a body is 415 unsupported_content_type', async () => {
    const before = await countUsers();
    const res = await ctx.raw('POST', '/v1/users', {
      body: 'email_address=a@example.com',
      headers: { 'Content-Type': 'text/plain' },
    });
    assertErrorEnvelope(res, { status: 415, code: 'unsupported_content_type' });
    assert.equal(await countUsers(), before);
  });
});

describe('API versions on PATCH /users/{id} (§4.5)', () => {
  test('Clerk-API-Version 2026-05-12 rejects metadata on PATCH /users/{id} with 422', async () => {
    const user = await createRawUser({ public_metadata: { a: 1 } });
    const res = await ctx.raw('PATCH', `/v1/users/${user.id}`, {
      body: { public_metadata: { b: 2 }, first_name: 'Should Not Apply' },
      headers: NEW_API,
    });
    assertErrorEnvelope(res, { status: 422, paramName: 'public_metadata' });
    const after = await ctx.raw('GET', `/v1/users/${user.id}`);
    assert.deepEqual(after.json.public_metadata, { a: 1 }, 'metadata unchanged');
    assert.equal(after.json.first_name, null, 'nothing else applied either');
  });

  test('Clerk-API-Version 2026-05-12 still accepts non-metadata fields on PATCH /users/{id}', async () => {
    const user = await createRawUser();
    const res = await ctx.raw('PATCH', `/v1/users/${user.id}`, {
      body: { first_name: 'Versioned' },
      headers: NEW_API,
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.first_name, 'Versioned');
  });

  test('without a version header, metadata on PATCH /users/{id} replaces (legacy)', async () => {
    const user = await createRawUser({
      public_metadata: { a: 1, nested: { x: 1 } },
      private_metadata: { p: 1 },
    });
    const res = await ctx.raw('PATCH', `/v1/users/${user.id}`, {
      body: { public_metadata: { nested: { y: 2 } } },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.public_metadata, { nested: { y: 2 } }, 'replaced, not merged');
    assert.deepEqual(res.json.private_metadata, { p: 1 }, 'other tiers untouched');
  });

  test('Clerk-API-Version 2025-11-10 also gets legacy replace', async () => {
    const user = await createRawUser({ unsafe_metadata: { old: 1 } });
    const res = await ctx.raw('PATCH', `/v1/users/${user.id}`, {
      body: { unsafe_metadata: { new: 2 } },
      headers: { 'Clerk-API-Version': '2025-11-10' },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.unsafe_metadata, { new: 2 });
  });

  test('__clerk_api_version=2026-05-12 in the query also rejects metadata on PATCH /users/{id}', async () => {
    const user = await createRawUser({ public_metadata: { a: 1 } });
    const res = await ctx.raw('PATCH', `/v1/users/${user.id}?__clerk_api_version=2026-05-12`, {
      body: { public_metadata: { b: 2 } },
    });
    assertErrorEnvelope(res, { status: 422, paramName: 'public_metadata' });
    const after = await ctx.raw('GET', `/v1/users/${user.id}`);
    assert.deepEqual(after.json.public_metadata, { a: 1 });
  });
});

describe('API version validation (§1)', () => {
  test('a malformed Clerk-API-Version is 400 api_version_invalid', async () => {
    const res = await ctx.raw('GET', '/v1/users', { headers: { 'Clerk-API-Version': 'latest' } });
    assertErrorEnvelope(res, { status: 400, code: 'api_version_invalid' });
  });

  test('a well-formed but unknown version (older than every release) is 400 api_version_invalid', async () => {
    const res = await ctx.raw('GET', '/v1/users', { headers: { 'Clerk-API-Version': '1999-01-01' } });
    assertErrorEnvelope(res, { status: 400, code: 'api_version_invalid' });
  });

  test('header and query parameter together is 400 api_version_invalid', async () => {
    const res = await ctx.raw('GET', '/v1/users?__clerk_api_version=2026-05-12', { headers: NEW_API });
    assertErrorEnvelope(res, { status: 400, code: 'api_version_invalid' });
  });
});
