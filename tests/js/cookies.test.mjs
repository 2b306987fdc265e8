// @clerk/backend's authenticateRequest on browser cookies (the path Clerk's framework middleware
// takes for server-rendered pages), against Roster's Frontend API: reference §6.2 and §7.4.
//
// A browser signs up through the Frontend API. Its cookies then go to authenticateRequest as an
// app at http://127.0.0.1:3999 would receive them, with Roster's printed publishable key and
// Roster's Frontend API as proxyUrl. Stale cookies send the page through Roster's handshake and
// back.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { createClerkClient } from '@clerk/backend';

import { email, expectApiError, useServer } from './harness.mjs';

const APP = 'http://127.0.0.1:3999';

/** The publishable key Roster prints at start-up. */
async function printedPublishableKey(server) {
  for (let i = 0; i < 100; i++) {
    const match = /publishable key:\s+(pk_\S+)/.exec(server.logs());
    if (match) return match[1];
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no publishable key in the banner:\n${server.logs()}`);
}

/** name → value of every Set-Cookie in a response. */
function setCookies(headers) {
  const out = {};
  for (const line of headers.getSetCookie()) {
    const [pair] = line.split(';');
    const at = pair.indexOf('=');
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

/** A page load of the app, as a browser sends it, with these cookies. */
function pageLoad(path, cookies) {
  return new Request(`${APP}${path}`, {
    headers: {
      cookie: Object.entries(cookies)
        .map(([k, v]) => `${k}=${v}`)
        .join('; '),
      accept: 'text/html',
      'sec-fetch-dest': 'document',
    },
  });
}

describe('authenticateRequest on cookies', () => {
  const ctx = useServer();

  /** Signs a new browser up; returns its cookies and the session token clerk-js would store. */
  async function signUp() {
    const res = await fetch(`${ctx.url}/fapi/v1/client/sign_ups`, {
      method: 'POST',
      headers: { origin: APP, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ email_address: email('cookie'), password: 'long enough pw' }),
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    const cookies = setCookies(res.headers);
    assert.ok(cookies.__client && Number(cookies.__client_uat) > 0, JSON.stringify(cookies));
    const session = body.client.sessions[0];
    return { cookies, jwt: session.last_active_token.jwt, userId: session.user.id };
  }

  async function authenticate(request) {
    const publishableKey = await printedPublishableKey(ctx.server);
    const clerk = createClerkClient({ secretKey: ctx.secretKey, apiUrl: ctx.url, publishableKey });
    return clerk.authenticateRequest(request, { proxyUrl: `${ctx.url}/fapi` });
  }

  test('the printed key is a production key naming the Frontend API', async () => {
    const key = await printedPublishableKey(ctx.server);
    assert.match(key, /^pk_live_/);
    const host = Buffer.from(key.slice('pk_live_'.length), 'base64').toString();
    assert.equal(host, `${ctx.url.replace(/^https?:\/\//, '')}/fapi$`);
  });

  test('fresh __session and __client_uat cookies are signed in', async () => {
    const { cookies, jwt, userId } = await signUp();
    const state = await authenticate(
      pageLoad('/dashboard', { __session: jwt, __client_uat: cookies.__client_uat }),
    );
    assert.equal(state.status, 'signed-in', `${state.reason}: ${state.message}`);
    assert.equal(state.toAuth().userId, userId);
    assert.equal(state.toAuth().sessionClaims.azp, APP);
  });

  test('a page load without a session token goes through the handshake and comes back signed in', async () => {
    const { cookies, userId } = await signUp();
    const first = await authenticate(
      pageLoad('/dashboard?tab=2', { __client: cookies.__client, __client_uat: cookies.__client_uat }),
    );
    assert.equal(first.status, 'handshake', `${first.reason}: ${first.message}`);
    const location = first.headers.get('location');
    assert.ok(location.startsWith(`${ctx.url}/fapi/v1/client/handshake?`), location);

    // The browser follows the redirect to Roster with its __client cookie (same host).
    const hop = await fetch(location, { redirect: 'manual', headers: { cookie: `__client=${cookies.__client}` } });
    assert.equal(hop.status, 307, await hop.text());
    assert.equal(hop.headers.get('location'), `${APP}/dashboard?tab=2`);
    const handshake = setCookies(hop.headers).__clerk_handshake;
    assert.ok(handshake, 'a __clerk_handshake cookie');

    // Back at the app with the handshake: signed in, and told which cookies to set.
    const back = await authenticate(
      pageLoad('/dashboard?tab=2', { __clerk_handshake: handshake, __client_uat: cookies.__client_uat }),
    );
    assert.equal(back.status, 'signed-in', `${back.reason}: ${back.message}`);
    assert.equal(back.toAuth().userId, userId);
    const set = setCookies(back.headers);
    assert.ok(set.__session, JSON.stringify(set));
    assert.equal(set.__clerk_handshake, '', 'the handshake cookie is cleared');
    assert.ok(Number(set.__client_uat) > 0);
  });

  test('after sign-out the handshake clears the cookies and the page is signed out', async () => {
    const { cookies, jwt } = await signUp();
    const out = await fetch(`${ctx.url}/fapi/v1/client/sessions?_method=DELETE`, {
      method: 'POST',
      headers: { origin: APP, cookie: `__client=${cookies.__client}` },
    });
    assert.equal(out.status, 200);
    const client = setCookies(out.headers).__client;
    // The stale token and a stale __client_uat from before the sign-out.
    const first = await authenticate(
      pageLoad('/', { __client_uat: String(Number(cookies.__client_uat) + 100), __session: jwt }),
    );
    assert.equal(first.status, 'handshake', `${first.reason}: ${first.message}`);
    const hop = await fetch(first.headers.get('location'), {
      redirect: 'manual',
      headers: { cookie: `__client=${client}` },
    });
    assert.equal(hop.status, 307);
    const back = await authenticate(
      pageLoad('/', { __clerk_handshake: setCookies(hop.headers).__clerk_handshake }),
    );
    assert.equal(back.status, 'signed-out', `${back.reason}: ${back.message}`);
    const set = setCookies(back.headers);
    assert.equal(set.__client_uat, '0');
    assert.equal(set.__session, '');
  });

  test('a locked user\'s page load is signed out through the handshake, not stranded', async () => {
    const { cookies, userId } = await signUp();
    await ctx.clerk.users.lockUser(userId);
    const first = await authenticate(pageLoad('/', { __client: cookies.__client, __client_uat: cookies.__client_uat }));
    assert.equal(first.status, 'handshake', `${first.reason}: ${first.message}`);
    const hop = await fetch(first.headers.get('location'), {
      redirect: 'manual',
      headers: { cookie: `__client=${cookies.__client}` },
    });
    assert.equal(hop.status, 307, await hop.text());
    const back = await authenticate(pageLoad('/', { __clerk_handshake: setCookies(hop.headers).__clerk_handshake }));
    assert.equal(back.status, 'signed-out', `${back.reason}: ${back.message}`);
  });

  test('clients.getClient and clients.verifyClient show the browser and its session', async () => {
    const { cookies, userId } = await signUp();
    const clerk = createClerkClient({ secretKey: ctx.secretKey, apiUrl: ctx.url });
    const verified = await clerk.clients.verifyClient(cookies.__client);
    const clientId = cookies.__client.split('.')[0];
    assert.equal(verified.id, clientId);
    assert.equal(verified.sessions.length, 1);
    assert.equal(verified.sessions[0].userId, userId);
    assert.deepEqual(verified.sessionIds, [verified.sessions[0].id]);
    assert.equal(verified.lastActiveSessionId, verified.sessions[0].id);
    assert.equal(verified.signInId, null);
    assert.ok(verified.createdAt <= verified.updatedAt);

    const got = await clerk.clients.getClient(clientId);
    assert.deepEqual(got, verified);

    // After sign-out the client stays, without sessions.
    const out = await fetch(`${ctx.url}/fapi/v1/client/sessions/${verified.sessions[0].id}/end`, {
      method: 'POST',
      headers: { origin: APP, cookie: `__client=${cookies.__client}` },
    });
    assert.equal(out.status, 200, await out.text());
    const after = await clerk.clients.getClient(clientId);
    assert.deepEqual([after.sessions, after.sessionIds, after.lastActiveSessionId], [[], [], null]);

    // A wrong secret, a made-up client, and the deprecated list.
    const [, secret] = cookies.__client.split('.');
    await expectApiError(clerk.clients.verifyClient(`${clientId}.${secret}x`), { status: 400, code: 'token_invalid' });
    await expectApiError(clerk.clients.verifyClient('nonsense'), { status: 400, code: 'token_invalid' });
    await expectApiError(clerk.clients.getClient('client_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ'), {
      status: 404,
      code: 'resource_not_found',
    });
    await expectApiError(clerk.clients.getClientList(), { status: 410, code: 'operation_deprecated' });
  });

  test('the handshake redirects only to this host, Roster or an allowed origin', async () => {
    const host = new URL(ctx.url).host;
    for (const target of [
      'http://evil.test/steal',
      'javascript:alert(1)',
      // Browsers read a backslash as a slash, and take https:host without slashes: the host they
      // go to is evil.test, whatever the text after it says.
      `http:\\\\evil.test/://${host}/`,
      `http:/\\evil.test/://${host}/`,
      `https:evil.test/://${host}/`,
      `http://${host}@evil.test/`,
      `http://user@${host}/`,
    ]) {
      const res = await fetch(
        `${ctx.url}/fapi/v1/client/handshake?redirect_url=${encodeURIComponent(target)}`,
        { redirect: 'manual' },
      );
      assert.equal(res.status, 422, target);
      const body = await res.json();
      assert.equal(body.errors[0].meta.param_name, 'redirect_url');
    }
  });
});
