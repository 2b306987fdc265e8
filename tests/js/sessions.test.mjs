// Sessions through @clerk/backend: create, get, list (bare and paginated), revoke, and what banning
// or deleting the user does to them. Reference: backend-api.md §3 (Session), §9, §11.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { createClerkClient } from '@clerk/backend';

import {
  assertErrorEnvelope,
  email,
  expectApiError,
  sleep,
  tag,
  unknownUserId,
  useServer,
} from './harness.mjs';
import {
  CLIENT_ID,
  SESSION_ID,
  assertRecentMillis,
  assertSessionWire,
  decodeJwt,
  expectClientError,
  unknownId,
  userWithSession,
} from './tokens-helpers.mjs';

const ctx = useServer();

describe('createSession', () => {
  test('returns an active Session for the user with ms timestamps', async () => {
    const user = await ctx.clerk.users.createUser({ emailAddress: [email('create')] });
    const before = Date.now();
    const session = await ctx.clerk.sessions.createSession({ userId: user.id });

    assert.match(session.id, SESSION_ID);
    assert.match(session.clientId, CLIENT_ID);
    assert.equal(session.userId, user.id);
    assert.equal(session.status, 'active');
    for (const field of ['lastActiveAt', 'createdAt', 'updatedAt']) {
      assertRecentMillis(session[field], field);
    }
    assert.ok(session.createdAt >= before - 5_000, 'createdAt is not before the request (ms clock)');
    assert.ok(session.updatedAt >= session.createdAt, 'updatedAt >= createdAt');
    assert.ok(session.expireAt > Date.now(), `expireAt=${session.expireAt} is in the future (ms)`);
    assert.ok(session.abandonAt > Date.now(), `abandonAt=${session.abandonAt} is in the future (ms)`);
    for (const field of ['expireAt', 'abandonAt']) {
      assert.ok(Number.isInteger(session[field]), `${field} is an integer`);
    }
  });

  test('the wire object has every §3 required field (raw POST /v1/sessions)', async () => {
    const user = await ctx.clerk.users.createUser({ emailAddress: [email('wire')] });
    const res = await ctx.raw('POST', '/v1/sessions', { body: { user_id: user.id } });
    assert.equal(res.status, 200, `POST /v1/sessions: ${res.text}`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assertSessionWire(res.json, { userId: user.id, status: 'active' });
  });

  test('each call creates a distinct session', async () => {
    const user = await ctx.clerk.users.createUser({ emailAddress: [email('two')] });
    const a = await ctx.clerk.sessions.createSession({ userId: user.id });
    const b = await ctx.clerk.sessions.createSession({ userId: user.id });
    assert.notEqual(a.id, b.id);
    assert.equal(a.userId, user.id);
    assert.equal(b.userId, user.id);
  });

  test('an unknown user is 404 resource_not_found', async () => {
    await expectApiError(ctx.clerk.sessions.createSession({ userId: unknownUserId() }), {
      status: 404,
      code: 'resource_not_found',
    });
  });

  test('a missing user_id is 422 form_param_missing', async () => {
    const res = await ctx.raw('POST', '/v1/sessions', { body: {} });
    assertErrorEnvelope(res, { status: 422, code: 'form_param_missing', paramName: 'user_id' });
    await expectApiError(ctx.clerk.sessions.createSession({}), {
      status: 422,
      code: 'form_param_missing',
      paramName: 'user_id',
    });
  });

  test('a wrong secret key is 401 clerk_key_invalid', async () => {
    const user = await ctx.clerk.users.createUser({ emailAddress: [email('key')] });
    const impostor = createClerkClient({ secretKey: `sk_test_${tag()}${tag()}`, apiUrl: ctx.url });
    await expectApiError(impostor.sessions.createSession({ userId: user.id }), {
      status: 401,
      code: 'clerk_key_invalid',
    });
    const list = await ctx.clerk.sessions.getSessionList({ userId: user.id });
    assert.equal(list.totalCount, 0, 'no session was created');
  });
});

describe('getSession', () => {
  test('returns the same session that was created', async () => {
    const { user, session } = await userWithSession(ctx);
    const fetched = await ctx.clerk.sessions.getSession(session.id);
    assert.equal(fetched.id, session.id);
    assert.equal(fetched.userId, user.id);
    assert.equal(fetched.clientId, session.clientId);
    assert.equal(fetched.status, 'active');
    assert.equal(fetched.createdAt, session.createdAt);
    assert.equal(fetched.expireAt, session.expireAt);
    assert.equal(fetched.abandonAt, session.abandonAt);

    const res = await ctx.raw('GET', `/v1/sessions/${session.id}`);
    assert.equal(res.status, 200, res.text);
    assertSessionWire(res.json, { userId: user.id, status: 'active' });
    assert.equal(res.json.id, session.id);
  });

  test('an unknown id is 404 resource_not_found', async () => {
    await expectApiError(ctx.clerk.sessions.getSession(unknownId('sess')), {
      status: 404,
      code: 'resource_not_found',
    });
    const res = await ctx.raw('GET', `/v1/sessions/${unknownId('sess')}`);
    assertErrorEnvelope(res, { status: 404, code: 'resource_not_found' });
  });
});

describe('getSessionList', () => {
  test('SDK (paginated=true) returns {data, totalCount} with only this user\'s sessions, newest first', async () => {
    const { user, session: first } = await userWithSession(ctx);
    // A few ms apart so creation times differ even on a coarse clock.
    await sleep(5);
    const second = await ctx.clerk.sessions.createSession({ userId: user.id });
    await sleep(5);
    const third = await ctx.clerk.sessions.createSession({ userId: user.id });
    // Another user's session must not show up.
    await userWithSession(ctx);

    const list = await ctx.clerk.sessions.getSessionList({ userId: user.id });
    assert.ok(Array.isArray(list.data), 'data is an array');
    assert.equal(list.totalCount, 3, 'totalCount counts this user\'s sessions');
    assert.equal(list.data.length, 3);
    for (const s of list.data) {
      assert.equal(s.userId, user.id);
      assert.match(s.id, SESSION_ID);
    }
    assert.deepEqual(
      list.data.map((s) => s.id),
      [third.id, second.id, first.id],
      'newest first (§9)',
    );
  });

  test('paging with limit and offset keeps total_count', async () => {
    const { user, session: a } = await userWithSession(ctx);
    const b = await ctx.clerk.sessions.createSession({ userId: user.id });
    const c = await ctx.clerk.sessions.createSession({ userId: user.id });

    const page1 = await ctx.clerk.sessions.getSessionList({ userId: user.id, limit: 2 });
    assert.equal(page1.totalCount, 3);
    assert.equal(page1.data.length, 2);
    const page2 = await ctx.clerk.sessions.getSessionList({ userId: user.id, limit: 2, offset: 2 });
    assert.equal(page2.totalCount, 3);
    assert.equal(page2.data.length, 1);
    assert.deepEqual(
      [...page1.data, ...page2.data].map((s) => s.id).sort(),
      [a.id, b.id, c.id].sort(),
      'the two pages together hold every session once',
    );
  });

  test('raw GET /v1/sessions is a bare array by default and {data,total_count} with paginated=true', async () => {
    const { user, session } = await userWithSession(ctx);

    const bare = await ctx.raw('GET', `/v1/sessions?user_id=${user.id}`);
    assert.equal(bare.status, 200, bare.text);
    assert.ok(Array.isArray(bare.json), `bare array by default (§9): ${bare.text.slice(0, 200)}`);
    assert.equal(bare.json.length, 1);
    assertSessionWire(bare.json[0], { userId: user.id, status: 'active' });
    assert.equal(bare.json[0].id, session.id);

    const paged = await ctx.raw('GET', `/v1/sessions?user_id=${user.id}&paginated=true`);
    assert.equal(paged.status, 200, paged.text);
    assert.ok(paged.json && Array.isArray(paged.json.data), `{data,total_count}: ${paged.text.slice(0, 200)}`);
    assert.equal(paged.json.total_count, 1);
    assert.equal(paged.json.data[0].id, session.id);
  });

  test('status filters by session status', async () => {
    const { user, session: keep } = await userWithSession(ctx);
    const gone = await ctx.clerk.sessions.createSession({ userId: user.id });
    await ctx.clerk.sessions.revokeSession(gone.id);

    const active = await ctx.clerk.sessions.getSessionList({ userId: user.id, status: 'active' });
    assert.deepEqual(active.data.map((s) => s.id), [keep.id]);
    assert.equal(active.totalCount, 1);

    const revoked = await ctx.clerk.sessions.getSessionList({ userId: user.id, status: 'revoked' });
    assert.deepEqual(revoked.data.map((s) => s.id), [gone.id]);
    assert.equal(revoked.data[0].status, 'revoked');
    assert.equal(revoked.totalCount, 1);

    const bare = await ctx.raw('GET', `/v1/sessions?user_id=${user.id}&status=revoked`);
    assert.equal(bare.status, 200, bare.text);
    assert.deepEqual(bare.json.map((s) => s.id), [gone.id]);

    const all = await ctx.clerk.sessions.getSessionList({ userId: user.id });
    assert.equal(all.totalCount, 2, 'without status, both sessions are listed');
  });

  test('a user without sessions gets an empty list', async () => {
    const user = await ctx.clerk.users.createUser({ emailAddress: [email('none')] });
    const list = await ctx.clerk.sessions.getSessionList({ userId: user.id });
    assert.deepEqual(list.data, []);
    assert.equal(list.totalCount, 0);
  });
});

describe('getClient', () => {
  test('a session made by createSession names a client known by its sessions', async () => {
    const { user, session } = await userWithSession(ctx);
    const client = await ctx.clerk.clients.getClient(session.clientId);
    assert.equal(client.id, session.clientId);
    assert.deepEqual(client.sessionIds, [session.id]);
    assert.equal(client.sessions[0].userId, user.id);
    assert.equal(client.lastActiveSessionId, session.id);
    assert.deepEqual([client.signInId, client.signUpId], [null, null]);

    await ctx.clerk.sessions.revokeSession(session.id);
    const after = await ctx.clerk.clients.getClient(session.clientId);
    assert.deepEqual([after.sessionIds, after.lastActiveSessionId], [[], null]);
    await expectApiError(ctx.clerk.clients.getClient(unknownId('client')), {
      status: 404,
      code: 'resource_not_found',
    });
  });
});

describe('revokeSession', () => {
  test('returns the session with status revoked, and getSession agrees', async () => {
    const { user, session } = await userWithSession(ctx);
    const revoked = await ctx.clerk.sessions.revokeSession(session.id);
    assert.equal(revoked.id, session.id);
    assert.equal(revoked.userId, user.id);
    assert.equal(revoked.status, 'revoked');
    assert.ok(revoked.updatedAt >= session.updatedAt, 'updatedAt does not go backwards');

    const fetched = await ctx.clerk.sessions.getSession(session.id);
    assert.equal(fetched.status, 'revoked');

    const res = await ctx.raw('GET', `/v1/sessions/${session.id}`);
    assertSessionWire(res.json, { userId: user.id, status: 'revoked' });
  });

  test('a revoked session cannot mint tokens (4xx)', async () => {
    const { session } = await userWithSession(ctx);
    // Minting works before the revoke...
    const { jwt } = await ctx.clerk.sessions.getToken(session.id);
    assert.equal(decodeJwt(jwt).payload.sid, session.id);

    await ctx.clerk.sessions.revokeSession(session.id);
    await expectClientError(ctx.clerk.sessions.getToken(session.id));
    await expectClientError(ctx.clerk.sessions.getToken(session.id, undefined, 120));
    const res = await ctx.raw('POST', `/v1/sessions/${session.id}/tokens`);
    assert.ok(res.status >= 400 && res.status < 500, `raw mint after revoke is 4xx, got ${res.status}: ${res.text}`);
    assert.ok(Array.isArray(res.json?.errors), `error envelope: ${res.text}`);
  });

  test('revoking one session leaves the user\'s other sessions active', async () => {
    const { user, session: a } = await userWithSession(ctx);
    const b = await ctx.clerk.sessions.createSession({ userId: user.id });
    await ctx.clerk.sessions.revokeSession(a.id);
    assert.equal((await ctx.clerk.sessions.getSession(b.id)).status, 'active');
    const { jwt } = await ctx.clerk.sessions.getToken(b.id);
    assert.equal(decodeJwt(jwt).payload.sid, b.id);
  });

  test('an unknown session is 404 resource_not_found', async () => {
    await expectApiError(ctx.clerk.sessions.revokeSession(unknownId('sess')), {
      status: 404,
      code: 'resource_not_found',
    });
  });
});

describe('user lifecycle and sessions', () => {
  test('banning a user revokes their sessions', async () => {
    const { user, session: a } = await userWithSession(ctx);
    const b = await ctx.clerk.sessions.createSession({ userId: user.id });
    await ctx.clerk.users.banUser(user.id);

    for (const s of [a, b]) {
      const fetched = await ctx.clerk.sessions.getSession(s.id);
      assert.equal(fetched.status, 'revoked', `session ${s.id} is revoked after the ban`);
      await expectClientError(ctx.clerk.sessions.getToken(s.id));
    }
    const active = await ctx.clerk.sessions.getSessionList({ userId: user.id, status: 'active' });
    assert.equal(active.totalCount, 0, 'no active sessions remain');
  });

  test('banning one user leaves another user\'s sessions alone', async () => {
    const { user } = await userWithSession(ctx);
    const { session: other } = await userWithSession(ctx);
    await ctx.clerk.users.banUser(user.id);
    assert.equal((await ctx.clerk.sessions.getSession(other.id)).status, 'active');
  });

  test('deleting a user ends their sessions (revoked or gone)', async () => {
    const { user, session } = await userWithSession(ctx);
    await ctx.clerk.users.deleteUser(user.id);

    const res = await ctx.raw('GET', `/v1/sessions/${session.id}`);
    if (res.status === 404) {
      assertErrorEnvelope(res, { status: 404, code: 'resource_not_found' });
    } else {
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.status, 'revoked', `after deleting the user: ${res.text}`);
    }
    await expectClientError(ctx.clerk.sessions.getToken(session.id));
  });
});
