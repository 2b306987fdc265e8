// JWKS, RS256 session tokens, custom session claims and JWT templates, checked through
// @clerk/backend (including its own verifyToken, which fetches GET /v1/jwks over HTTP) and by
// decoding the tokens ourselves. Reference: backend-api.md §3 (JWTTemplate), §8;
// frontend-api-and-tokens.md §4 (token format), §5 (template language), §6 (verification).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { createClerkClient } from '@clerk/backend';

import { assertErrorEnvelope, email, expectApiError, tag, useServer } from './harness.mjs';
import {
  INSTANCE_KID,
  TEMPLATE_ID,
  assertRecentMillis,
  decodeJwt,
  expectClientError,
  expectVerifyFailure,
  flipPayloadChar,
  forgePayload,
  getSessionClaims,
  jwkToPem,
  nowSeconds,
  putSessionClaims,
  rs256VerifiesWith,
  sessionTokenClaims,
  spawnRosterOn,
  unknownId,
  userWithSession,
  verifyWithServer,
} from './tokens-helpers.mjs';

const ctx = useServer();

/** Claims a v2 session token may carry without any customization (frontend §4.2). */
const DEFAULT_SESSION_CLAIMS = new Set([
  'azp', 'exp', 'iat', 'iss', 'nbf', 'sid', 'sub', 'fva', 'jti', 'v', 'pla', 'fea', 'sts', 'o', 'act',
]);

/** The instance's one signing key, fetched raw. */
async function instanceJwk() {
  const res = await ctx.raw('GET', '/v1/jwks');
  assert.equal(res.status, 200, `GET /v1/jwks: ${res.text}`);
  assert.equal(res.json?.keys?.length, 1, `one key: ${res.text}`);
  return res.json.keys[0];
}

describe('GET /v1/jwks', () => {
  test('one public RSA-2048 signing key with an ins_ kid (§8.1)', async () => {
    const res = await ctx.raw('GET', '/v1/jwks');
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.ok(Array.isArray(res.json?.keys), `{keys:[…]}: ${res.text}`);
    assert.equal(res.json.keys.length, 1);
    const [key] = res.json.keys;
    assert.equal(key.use, 'sig');
    assert.equal(key.kty, 'RSA');
    assert.equal(key.alg, 'RS256');
    assert.equal(key.e, 'AQAB');
    assert.match(key.kid, INSTANCE_KID);
    assert.match(key.n, /^[A-Za-z0-9_-]+$/, 'n is unpadded base64url');
    const modulus = Buffer.from(key.n, 'base64url');
    assert.equal(modulus.length, 256, 'a 2048-bit modulus (256 bytes, no leading zero byte)');
    assert.ok(modulus[0] & 0x80, 'the modulus has its top bit set (really 2048 bits)');
    for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
      assert.equal(secret in key, false, `no private member "${secret}" in the public JWKS`);
    }
  });

  test('the SDK reads the same key, and the key is stable across calls', async () => {
    const raw = await instanceJwk();
    const viaSdk = await ctx.clerk.jwks.getJwks();
    assert.equal(viaSdk.keys.length, 1);
    assert.equal(viaSdk.keys[0].kid, raw.kid);
    assert.equal(viaSdk.keys[0].n, raw.n);
    const again = await instanceJwk();
    assert.deepEqual(again, raw);
  });

  test('requires the secret key', async () => {
    const none = await ctx.raw('GET', '/v1/jwks', { auth: false });
    assertErrorEnvelope(none, { status: 401, code: 'authorization_header_format_invalid' });
    const wrong = await ctx.raw('GET', '/v1/jwks', { auth: `Bearer sk_test_${tag()}${tag()}` });
    assertErrorEnvelope(wrong, { status: 401, code: 'clerk_key_invalid' });
  });
});

describe('signing key persistence', () => {
  test('a restart keeps the key: old tokens still verify, sessions still mint', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'roster-js-restart-'));
    const secretKey = `sk_test_${randomBytes(24).toString('hex')}`;
    let server = await spawnRosterOn(dataDir, secretKey);
    try {
      const one = { url: server.url, secretKey };
      const clerk = createClerkClient({ secretKey, apiUrl: server.url });
      const jwksBefore = (await clerk.jwks.getJwks()).keys;
      const user = await clerk.users.createUser({ emailAddress: [email('restart')] });
      const session = await clerk.sessions.createSession({ userId: user.id });
      const { jwt } = await clerk.sessions.getToken(session.id, undefined, 3600);
      assert.equal((await verifyWithServer(one, jwt)).sid, session.id);
      await server.stop();

      server = await spawnRosterOn(dataDir, secretKey);
      const two = { url: server.url, secretKey };
      const clerk2 = createClerkClient({ secretKey, apiUrl: server.url });
      const jwksAfter = (await clerk2.jwks.getJwks()).keys;
      assert.deepEqual(
        jwksAfter.map(({ kid, n, e }) => ({ kid, n, e })),
        jwksBefore.map(({ kid, n, e }) => ({ kid, n, e })),
        'same kid and modulus after a restart',
      );
      const verified = await verifyWithServer(two, jwt, { skipJwksCache: true });
      assert.equal(verified.sub, user.id, 'a token minted before the restart verifies after it');
      assert.equal((await clerk2.sessions.getSession(session.id)).status, 'active');
      const fresh = decodeJwt((await clerk2.sessions.getToken(session.id)).jwt);
      assert.equal(fresh.header.kid, jwksBefore[0].kid);
      assert.equal(fresh.payload.sid, session.id);
    } finally {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('session tokens: POST /v1/sessions/{id}/tokens', () => {
  test('returns {object:"token", jwt} (raw) and Token.jwt (SDK)', async () => {
    const { session } = await userWithSession(ctx);
    const res = await ctx.raw('POST', `/v1/sessions/${session.id}/tokens`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.object, 'token');
    assert.equal(typeof res.json.jwt, 'string');
    decodeJwt(res.json.jwt);

    const token = await ctx.clerk.sessions.getToken(session.id);
    assert.equal(typeof token.jwt, 'string');
    assert.equal(token.jwt.split('.').length, 3);
  });

  test('header is RS256/JWT with the JWKS kid; claims are the v2 defaults (frontend §4)', async () => {
    const jwk = await instanceJwk();
    const { user, session } = await userWithSession(ctx);
    const before = nowSeconds();
    const { header, payload } = await sessionTokenClaims(ctx, session.id);
    const afterMint = nowSeconds();

    assert.equal(header.alg, 'RS256');
    assert.equal(header.typ, 'JWT');
    assert.equal(header.kid, jwk.kid, 'header kid equals the JWKS kid');

    assert.equal(payload.sub, user.id);
    assert.equal(payload.sid, session.id);
    assert.equal(typeof payload.iss, 'string');
    assert.ok(payload.iss.length > 0, 'iss is non-empty');
    for (const claim of ['iat', 'nbf', 'exp']) {
      assert.ok(Number.isInteger(payload[claim]), `${claim} is an integer (seconds): ${payload[claim]}`);
    }
    assert.ok(payload.iat >= before - 2 && payload.iat <= afterMint + 2, `iat=${payload.iat} is now (s)`);
    assert.ok(payload.nbf <= payload.iat, `nbf=${payload.nbf} <= iat=${payload.iat}`);
    assert.ok(payload.iat - payload.nbf <= 60, 'nbf is only a small skew before iat');
    assert.equal(payload.exp, payload.iat + 60, 'default lifetime is 60 s');
    assert.equal(typeof payload.jti, 'string');
    assert.ok(payload.jti.length > 0, 'jti is non-empty');
    assert.equal(payload.v, 2);
    assert.ok(Array.isArray(payload.fva), `fva is an array: ${JSON.stringify(payload.fva)}`);
    assert.equal(payload.fva.length, 2);
    for (const n of payload.fva) assert.equal(typeof n, 'number', 'fva holds numbers');
    assert.equal('azp' in payload, false, 'no azp on a BAPI-minted token (no Origin)');
    for (const claim of Object.keys(payload)) {
      assert.ok(DEFAULT_SESSION_CLAIMS.has(claim), `unexpected claim "${claim}" with no customization`);
    }
  });

  test('every token has a fresh jti', async () => {
    const { session } = await userWithSession(ctx);
    const a = await sessionTokenClaims(ctx, session.id);
    const b = await sessionTokenClaims(ctx, session.id);
    assert.notEqual(a.payload.jti, b.payload.jti);
  });

  test('expiresInSeconds sets exp = iat + expiresInSeconds', async () => {
    const { session } = await userWithSession(ctx);
    const { jwt } = await ctx.clerk.sessions.getToken(session.id, undefined, 120);
    const { payload } = decodeJwt(jwt);
    assert.equal(payload.exp, payload.iat + 120);
    assert.equal(payload.sid, session.id);

    const res = await ctx.raw('POST', `/v1/sessions/${session.id}/tokens`, {
      body: { expires_in_seconds: 3600 },
    });
    assert.equal(res.status, 200, res.text);
    const long = decodeJwt(res.json.jwt).payload;
    assert.equal(long.exp, long.iat + 3600);
  });

  test('expires_in_seconds: null means the default lifetime', async () => {
    const { session } = await userWithSession(ctx);
    const res = await ctx.raw('POST', `/v1/sessions/${session.id}/tokens`, {
      body: { expires_in_seconds: null },
    });
    assert.equal(res.status, 200, res.text);
    const { payload } = decodeJwt(res.json.jwt);
    assert.equal(payload.exp, payload.iat + 60);
  });

  test('expires_in_seconds below 30 is rejected with 422 (§8.2 range 30..315360000)', async () => {
    const { session } = await userWithSession(ctx);
    const res = await ctx.raw('POST', `/v1/sessions/${session.id}/tokens`, {
      body: { expires_in_seconds: 10 },
    });
    assertErrorEnvelope(res, { status: 422 });
  });

  test('an unknown session is 404 resource_not_found', async () => {
    await expectApiError(ctx.clerk.sessions.getToken(unknownId('sess')), {
      status: 404,
      code: 'resource_not_found',
    });
  });

  test('the signature verifies against the JWKS key (node:crypto, independent of the SDK)', async () => {
    const jwk = await instanceJwk();
    const { jwt } = await sessionTokenClaims(ctx, (await userWithSession(ctx)).session.id);
    assert.equal(rs256VerifiesWith(jwt, jwk), true, 'RS256 signature is valid');
    assert.equal(rs256VerifiesWith(flipPayloadChar(jwt), jwk), false, 'a changed payload is not');
  });

  test('verifyToken (JWKS over HTTP) accepts it and returns the claims', async () => {
    const { user, session } = await userWithSession(ctx);
    const { jwt } = await ctx.clerk.sessions.getToken(session.id);
    const payload = await verifyWithServer(ctx, jwt);
    assert.equal(payload.sub, user.id);
    assert.equal(payload.sid, session.id);
    assert.equal(payload.v, 2);
  });

  test('verifyToken with the PEM public key (networkless jwtKey) accepts it', async () => {
    const jwk = await instanceJwk();
    const { user, session } = await userWithSession(ctx);
    const { jwt } = await ctx.clerk.sessions.getToken(session.id);
    const payload = await verifyWithServer(ctx, jwt, {
      secretKey: undefined,
      apiUrl: undefined,
      jwtKey: jwkToPem(jwk),
    });
    assert.equal(payload.sub, user.id);
  });

  test('`roster keys public-key` prints the PEM that jwtKey verifies with', async () => {
    const { execFileSync } = await import('node:child_process');
    const { rosterBinary } = await import('./server.mjs');
    // The CLI opens the server's own database (ROSTER_DATABASE_URL carries a PostgreSQL one).
    const pem = execFileSync(rosterBinary(), ['keys', 'public-key', '--data-dir', ctx.server.dataDir], {
      env: process.env,
      encoding: 'utf8',
    });
    assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);
    assert.equal(pem, jwkToPem(await instanceJwk()), 'the PEM of the key the JWKS publishes');
    const { user, session } = await userWithSession(ctx);
    const { jwt } = await ctx.clerk.sessions.getToken(session.id);
    const payload = await verifyWithServer(ctx, jwt, { secretKey: undefined, apiUrl: undefined, jwtKey: pem });
    assert.equal(payload.sub, user.id);
  });

  test('verifyToken rejects tampered tokens', async () => {
    const { session } = await userWithSession(ctx);
    const { jwt } = await ctx.clerk.sessions.getToken(session.id);
    await expectVerifyFailure(verifyWithServer(ctx, flipPayloadChar(jwt)));
    const forged = forgePayload(jwt, (p) => {
      p.sub = 'user_someoneElse';
    });
    await expectVerifyFailure(verifyWithServer(ctx, forged), { reason: 'token-invalid-signature' });
  });

  test('verifyToken with authorizedParties fails: there is no azp', async () => {
    const { session } = await userWithSession(ctx);
    const { jwt } = await ctx.clerk.sessions.getToken(session.id);
    await expectVerifyFailure(verifyWithServer(ctx, jwt, { authorizedParties: ['http://x'] }), {
      reason: 'token-invalid-authorized-parties',
    });
  });

  test('verifyToken with a wrong secret key cannot load the JWKS', async () => {
    const { session } = await userWithSession(ctx);
    const { jwt } = await ctx.clerk.sessions.getToken(session.id);
    await expectVerifyFailure(
      verifyWithServer(ctx, jwt, { secretKey: `sk_test_${tag()}${tag()}`, skipJwksCache: true }),
    );
  });
});

describe('custom session claims: /v1/instance/session_token_claims', () => {
  // These tests change instance-wide state; leave it empty for whatever runs next.
  after(async () => {
    await putSessionClaims(ctx, {});
  });

  test('GET starts empty', async () => {
    const res = await getSessionClaims(ctx);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.object, 'session_token_claims');
    assert.deepEqual(res.json.claims, {});
  });

  test('requires the secret key', async () => {
    const none = await ctx.raw('GET', '/v1/instance/session_token_claims', { auth: false });
    assertErrorEnvelope(none, { status: 401 });
    const put = await ctx.raw('PUT', '/v1/instance/session_token_claims', {
      auth: `Bearer sk_test_${tag()}${tag()}`,
      body: { claims: { x: 1 } },
    });
    assertErrorEnvelope(put, { status: 401, code: 'clerk_key_invalid' });
    assert.deepEqual((await getSessionClaims(ctx)).json.claims, {}, 'nothing stored');
  });

  test('PUT stores the template; GET returns it; tokens render it (frontend §5.2)', async () => {
    const claims = {
      role: '{{user.public_metadata.role}}',
      meta: '{{user.public_metadata}}',
      greeting: 'hi {{user.first_name}}',
      plan: "{{user.public_metadata.plan || 'free'}}",
      missing: '{{user.public_metadata.nope}}',
      static: [1, 2],
      email: '{{user.primary_email_address}}',
    };
    const put = await putSessionClaims(ctx, claims);
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.object, 'session_token_claims');
    assert.deepEqual(put.json.claims, claims);
    assert.ok('sample_token_bytes' in put.json, 'sample_token_bytes is present');
    const bytes = put.json.sample_token_bytes;
    assert.ok(bytes === null || (Number.isInteger(bytes) && bytes > 0), `sample_token_bytes=${bytes}`);

    const got = await getSessionClaims(ctx);
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.json.claims, claims);

    const address = email('claims');
    const { user, session } = await userWithSession(ctx, {
      emailAddress: [address],
      firstName: 'Ada',
      publicMetadata: { role: 'admin' },
    });
    const { jwt, payload } = await sessionTokenClaims(ctx, session.id);
    assert.equal(payload.role, 'admin');
    assert.deepEqual(payload.meta, { role: 'admin' }, 'a whole-string shortcode keeps the JSON type');
    assert.equal(payload.greeting, 'hi Ada');
    assert.equal(payload.plan, 'free', 'fallback literal');
    assert.ok('missing' in payload, 'a missing value keeps its claim');
    assert.equal(payload.missing, null);
    assert.deepEqual(payload.static, [1, 2]);
    assert.equal(payload.email, address);
    // The defaults are still there and still right.
    assert.equal(payload.sub, user.id);
    assert.equal(payload.sid, session.id);
    assert.equal(payload.v, 2);
    assert.equal(payload.exp, payload.iat + 60);

    const verified = await verifyWithServer(ctx, jwt);
    assert.equal(verified.role, 'admin');
  });

  test('more of the template language: interpolated null, typed fallbacks, nesting, literals', async () => {
    const claims = {
      uid: '{{user.id}}',
      names: '{{user.last_name}} {{user.first_name}}',
      fallback_num: '{{user.public_metadata.nope || 30}}',
      role_or: "{{user.public_metadata.role || 'none'}}",
      spaced: '{{ user.public_metadata.role }}',
      deep: '{{user.public_metadata.addr.city}}',
      list: '{{user.public_metadata.tags}}',
      nested: { r: '{{user.public_metadata.role}}', s: 'x' },
      flag: true,
      num: 7,
      nil: null,
      plain: 'no shortcodes here',
      unknown: '{{user.i_dont_exist}}',
      created: '{{user.created_at}}',
    };
    const put = await putSessionClaims(ctx, claims);
    assert.equal(put.status, 200, put.text);

    const { user, session } = await userWithSession(ctx, {
      firstName: 'Ada',
      publicMetadata: { role: 'admin', addr: { city: 'London' }, tags: ['a', 'b'] },
    });
    const { payload } = await sessionTokenClaims(ctx, session.id);
    assert.equal(payload.uid, user.id);
    assert.equal(payload.names, 'null Ada', 'null interpolates as the literal "null"');
    assert.equal(payload.fallback_num, 30, 'a number literal fallback stays a number');
    assert.equal(payload.role_or, 'admin', 'the first truthy operand wins');
    assert.equal(payload.spaced, 'admin', 'whitespace inside {{ }} is allowed');
    assert.equal(payload.deep, 'London', 'dot paths go into nested metadata');
    assert.deepEqual(payload.list, ['a', 'b'], 'arrays keep their type');
    assert.deepEqual(payload.nested, { r: 'admin', s: 'x' }, 'nested objects are rendered');
    assert.equal(payload.flag, true);
    assert.equal(payload.num, 7);
    assert.ok('nil' in payload && payload.nil === null, 'static null is kept');
    assert.equal(payload.plain, 'no shortcodes here');
    assert.ok('unknown' in payload && payload.unknown === null, 'an unknown shortcode renders null');
    assert.equal(typeof payload.created, 'number', '{{user.created_at}} keeps its number type');
  });

  test('the next token reflects a metadata change', async () => {
    const put = await putSessionClaims(ctx, { role: '{{user.public_metadata.role}}' });
    assert.equal(put.status, 200, put.text);
    const { user, session } = await userWithSession(ctx, { publicMetadata: { role: 'viewer' } });
    assert.equal((await sessionTokenClaims(ctx, session.id)).payload.role, 'viewer');

    await ctx.clerk.users.updateUserMetadata(user.id, { publicMetadata: { role: 'editor' } });
    assert.equal((await sessionTokenClaims(ctx, session.id)).payload.role, 'editor');

    await ctx.clerk.users.updateUserMetadata(user.id, { publicMetadata: { role: null } });
    const { payload } = await sessionTokenClaims(ctx, session.id);
    assert.ok('role' in payload, 'the claim stays');
    assert.equal(payload.role, null, 'a removed key renders null');
  });

  test('PUT replaces the whole template', async () => {
    assert.equal((await putSessionClaims(ctx, { a: 1, b: 'x' })).status, 200);
    const put = await putSessionClaims(ctx, { c: 3 });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual(put.json.claims, { c: 3 });
    assert.deepEqual((await getSessionClaims(ctx)).json.claims, { c: 3 });
    const { session } = await userWithSession(ctx);
    const { payload } = await sessionTokenClaims(ctx, session.id);
    assert.equal(payload.c, 3);
    assert.equal('a' in payload, false, 'the old claims are gone');
    assert.equal('b' in payload, false);
  });

  test('reserved claims are rejected with 422 and nothing changes', async () => {
    const stored = { keep: 'me' };
    assert.equal((await putSessionClaims(ctx, stored)).status, 200);
    for (const reserved of ['sub', 'exp', 'iat', 'nbf', 'iss', 'sid', 'jti', 'azp', 'v']) {
      const res = await putSessionClaims(ctx, { ok: 1, [reserved]: reserved === 'exp' ? 1 : 'x' });
      assertErrorEnvelope(res, { status: 422 });
      assert.deepEqual(
        (await getSessionClaims(ctx)).json.claims,
        stored,
        `claims unchanged after trying to reserve "${reserved}"`,
      );
    }
    const { user, session } = await userWithSession(ctx);
    const { payload } = await sessionTokenClaims(ctx, session.id);
    assert.equal(payload.sub, user.id);
    assert.equal(payload.keep, 'me');
    assert.equal('ok' in payload, false);
  });

  test('claims that are not a JSON object are rejected and nothing changes', async () => {
    const stored = { still: 'here' };
    assert.equal((await putSessionClaims(ctx, stored)).status, 200);
    for (const body of [{ claims: [1, 2] }, { claims: 'x' }, {}]) {
      const res = await putSessionClaims(ctx, undefined, { body });
      assert.ok(
        res.status === 400 || res.status === 422,
        `PUT ${JSON.stringify(body)} → 400/422, got ${res.status}: ${res.text}`,
      );
      assertErrorEnvelope(res, { status: res.status });
      assert.deepEqual((await getSessionClaims(ctx)).json.claims, stored);
    }
  });

  test('private metadata never reaches a session token', async () => {
    const secret = `pm-secret-${tag()}${tag()}`;
    const { session } = await userWithSession(ctx, {
      privateMetadata: { stripe: secret, nested: { deep: secret } },
      publicMetadata: { shown: 'yes' },
    });
    const attempts = [
      { secret: '{{user.private_metadata}}' },
      { secret: '{{user.private_metadata.stripe}}' },
      { secret: 'x {{user.private_metadata.nested.deep}}' },
      { secret: "{{user.public_metadata.nope || user.private_metadata.stripe}}" },
      { nested: { secret: '{{user.private_metadata}}' } },
    ];
    for (const claims of attempts) {
      const put = await putSessionClaims(ctx, { ...claims, shown: '{{user.public_metadata.shown}}' });
      if (put.status === 422) {
        assertErrorEnvelope(put, { status: 422 });
        continue;
      }
      assert.equal(put.status, 200, `PUT ${JSON.stringify(claims)}: ${put.text}`);
      assert.equal(put.text.includes(secret), false, 'the PUT response does not echo private data');
      const { jwt, payloadText, payload } = await sessionTokenClaims(ctx, session.id);
      assert.equal(payload.shown, 'yes', 'the rest of the template still renders');
      assert.equal(
        payloadText.includes(secret),
        false,
        `token for ${JSON.stringify(claims)} leaks private metadata: ${payloadText}`,
      );
      const verified = await verifyWithServer(ctx, jwt);
      assert.equal(JSON.stringify(verified).includes(secret), false);
    }
  });

  test('an empty template removes all custom claims', async () => {
    assert.equal((await putSessionClaims(ctx, { gone: 'soon' })).status, 200);
    const put = await putSessionClaims(ctx, {});
    assert.equal(put.status, 200, put.text);
    assert.deepEqual((await getSessionClaims(ctx)).json.claims, {});
    const { session } = await userWithSession(ctx);
    const { payload } = await sessionTokenClaims(ctx, session.id);
    for (const claim of Object.keys(payload)) {
      assert.ok(DEFAULT_SESSION_CLAIMS.has(claim), `unexpected claim "${claim}" after clearing`);
    }
  });
});

describe('JWT templates: /v1/jwt_templates', () => {
  const REQUIRED_TEMPLATE_FIELDS = [
    'object', 'id', 'name', 'claims', 'lifetime', 'allowed_clock_skew', 'custom_signing_key',
    'signing_algorithm', 'created_at', 'updated_at',
  ];

  test('create returns a JWTTemplate with the documented defaults (§3, frontend §5.4)', async () => {
    const name = `tmpl_${tag()}`;
    const claims = { role: '{{user.public_metadata.role}}', app: 'roster' };
    const tmpl = await ctx.clerk.jwtTemplates.create({ name, claims });
    assert.match(tmpl.id, TEMPLATE_ID);
    assert.equal(tmpl.name, name);
    assert.deepEqual(tmpl.claims, claims);
    assert.equal(tmpl.lifetime, 60);
    assert.equal(tmpl.allowedClockSkew, 5);
    assert.equal(tmpl.customSigningKey, false);
    assert.equal(tmpl.signingAlgorithm, 'RS256');
    assertRecentMillis(tmpl.createdAt, 'createdAt');
    assertRecentMillis(tmpl.updatedAt, 'updatedAt');

    const res = await ctx.raw('GET', `/v1/jwt_templates/${tmpl.id}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.object, 'jwt_template');
    for (const field of REQUIRED_TEMPLATE_FIELDS) {
      assert.ok(field in res.json, `JWTTemplate.${field} is present on the wire`);
    }
    assert.equal('signing_key' in res.json, false, 'the signing key is never returned');
  });

  test('create honours lifetime and allowedClockSkew; get returns the same template', async () => {
    const tmpl = await ctx.clerk.jwtTemplates.create({
      name: `tmpl_${tag()}`,
      claims: { k: 'v' },
      lifetime: 300,
      allowedClockSkew: 10,
    });
    assert.equal(tmpl.lifetime, 300);
    assert.equal(tmpl.allowedClockSkew, 10);
    const got = await ctx.clerk.jwtTemplates.get(tmpl.id);
    assert.equal(got.id, tmpl.id);
    assert.equal(got.name, tmpl.name);
    assert.deepEqual(got.claims, { k: 'v' });
    assert.equal(got.lifetime, 300);
    assert.equal(got.allowedClockSkew, 10);
    assert.equal(got.createdAt, tmpl.createdAt);
  });

  test('list (SDK sends paginated=true) returns {data, totalCount}; raw default is a bare array', async () => {
    const a = await ctx.clerk.jwtTemplates.create({ name: `list_a_${tag()}`, claims: {} });
    const b = await ctx.clerk.jwtTemplates.create({ name: `list_b_${tag()}`, claims: {} });
    const list = await ctx.clerk.jwtTemplates.list();
    assert.ok(Array.isArray(list.data), 'data is an array');
    assert.equal(typeof list.totalCount, 'number');
    assert.equal(list.totalCount, list.data.length, 'all templates fit the default page here');
    const ids = list.data.map((t) => t.id);
    assert.ok(ids.includes(a.id) && ids.includes(b.id), 'both new templates are listed');
    assert.equal(list.data.find((t) => t.id === a.id).name, a.name);

    const bare = await ctx.raw('GET', '/v1/jwt_templates');
    assert.equal(bare.status, 200, bare.text);
    assert.ok(Array.isArray(bare.json), `bare array by default (§8.3): ${bare.text.slice(0, 200)}`);
    assert.equal(bare.json.length, list.totalCount);
    for (const t of bare.json) assert.equal(t.object, 'jwt_template');

    const paged = await ctx.raw('GET', '/v1/jwt_templates?paginated=true&limit=1');
    assert.equal(paged.status, 200, paged.text);
    assert.equal(paged.json.data.length, 1);
    assert.equal(paged.json.total_count, list.totalCount);
  });

  test('update replaces name, claims and lifetime', async () => {
    const tmpl = await ctx.clerk.jwtTemplates.create({ name: `upd_${tag()}`, claims: { a: 1 } });
    const name = `renamed_${tag()}`;
    const updated = await ctx.clerk.jwtTemplates.update({
      templateId: tmpl.id,
      name,
      claims: { b: 2 },
      lifetime: 120,
      allowedClockSkew: 0,
    });
    assert.equal(updated.id, tmpl.id);
    assert.equal(updated.name, name);
    assert.deepEqual(updated.claims, { b: 2 });
    assert.equal(updated.lifetime, 120);
    assert.equal(updated.allowedClockSkew, 0);
    assert.equal(updated.createdAt, tmpl.createdAt);
    assert.ok(updated.updatedAt >= tmpl.updatedAt);

    const got = await ctx.clerk.jwtTemplates.get(tmpl.id);
    assert.equal(got.name, name);
    assert.deepEqual(got.claims, { b: 2 });
    assert.equal(got.lifetime, 120);

    // An update that names only the claims keeps the lifetime and skew it does not mention.
    const again = await ctx.clerk.jwtTemplates.update({ templateId: tmpl.id, name, claims: { c: 3 } });
    assert.deepEqual([again.lifetime, again.allowedClockSkew, again.claims], [120, 0, { c: 3 }]);
  });

  test('a template may not set sid or act, which would pass it off as a session token', async () => {
    for (const claims of [{ sid: '{{user.unsafe_metadata.sid}}' }, { act: { sub: 'user_admin' } }]) {
      await expectApiError(ctx.clerk.jwtTemplates.create({ name: `reserved_${tag()}`, claims }), {
        status: 422,
      });
    }
  });

  test('delete returns a DeletedObject, then the template is gone', async () => {
    const tmpl = await ctx.clerk.jwtTemplates.create({ name: `del_${tag()}`, claims: {} });
    const deleted = await ctx.clerk.jwtTemplates.delete(tmpl.id);
    assert.equal(deleted.object, 'jwt_template');
    assert.equal(deleted.id, tmpl.id);
    assert.equal(deleted.deleted, true);
    await expectApiError(ctx.clerk.jwtTemplates.get(tmpl.id), { status: 404, code: 'resource_not_found' });
    await expectApiError(ctx.clerk.jwtTemplates.delete(tmpl.id), { status: 404, code: 'resource_not_found' });
    const list = await ctx.clerk.jwtTemplates.list();
    assert.equal(list.data.some((t) => t.id === tmpl.id), false, 'not listed any more');
    // The name is free again.
    const again = await ctx.clerk.jwtTemplates.create({ name: tmpl.name, claims: {} });
    assert.notEqual(again.id, tmpl.id);
  });

  test('an unknown id is 404 resource_not_found for get, update and delete', async () => {
    const id = unknownId('jtmpl');
    await expectApiError(ctx.clerk.jwtTemplates.get(id), { status: 404, code: 'resource_not_found' });
    await expectApiError(
      ctx.clerk.jwtTemplates.update({ templateId: id, name: `x_${tag()}`, claims: {} }),
      { status: 404, code: 'resource_not_found' },
    );
    await expectApiError(ctx.clerk.jwtTemplates.delete(id), { status: 404, code: 'resource_not_found' });
  });

  test('a duplicate name is 422, on create and on rename', async () => {
    const name = `dup_${tag()}`;
    await ctx.clerk.jwtTemplates.create({ name, claims: {} });
    await expectApiError(ctx.clerk.jwtTemplates.create({ name, claims: { other: true } }), { status: 422 });
    const other = await ctx.clerk.jwtTemplates.create({ name: `dup_other_${tag()}`, claims: {} });
    await expectApiError(
      ctx.clerk.jwtTemplates.update({ templateId: other.id, name, claims: {} }),
      { status: 422 },
    );
    assert.equal((await ctx.clerk.jwtTemplates.get(other.id)).name, other.name, 'rename did not happen');
  });

  test('name and claims are required (422 form_param_missing)', async () => {
    const noName = await ctx.raw('POST', '/v1/jwt_templates', { body: { claims: {} } });
    assertErrorEnvelope(noName, { status: 422, code: 'form_param_missing', paramName: 'name' });
    const noClaims = await ctx.raw('POST', '/v1/jwt_templates', { body: { name: `nc_${tag()}` } });
    assertErrorEnvelope(noClaims, { status: 422, code: 'form_param_missing', paramName: 'claims' });
  });

  test('out-of-range lifetime or clock skew is 422 (§8.3: lifetime 30..315360000, skew 0..300)', async () => {
    const short = await ctx.raw('POST', '/v1/jwt_templates', {
      body: { name: `short_${tag()}`, claims: {}, lifetime: 10 },
    });
    assertErrorEnvelope(short, { status: 422 });
    const skew = await ctx.raw('POST', '/v1/jwt_templates', {
      body: { name: `skew_${tag()}`, claims: {}, allowed_clock_skew: 301 },
    });
    assertErrorEnvelope(skew, { status: 422 });
  });

  test('claims that are not an object are 422', async () => {
    const res = await ctx.raw('POST', '/v1/jwt_templates', {
      body: { name: `arr_${tag()}`, claims: [1, 2] },
    });
    assertErrorEnvelope(res, { status: 422 });
  });
});

describe('template tokens: POST /v1/sessions/{id}/tokens/{name}', () => {
  test('render the template claims with the template lifetime and skew, no sid/v (frontend §5.4)', async () => {
    const jwk = await instanceJwk();
    const name = `tok_${tag()}`;
    await ctx.clerk.jwtTemplates.create({
      name,
      claims: {
        role: '{{user.public_metadata.role}}',
        email: '{{user.primary_email_address}}',
        kind: 'template',
        meta: '{{user.public_metadata}}',
      },
      lifetime: 300,
      allowedClockSkew: 10,
    });
    const address = email('tmpltok');
    const { user, session } = await userWithSession(ctx, {
      emailAddress: [address],
      publicMetadata: { role: 'admin' },
    });
    const before = nowSeconds();
    const { jwt } = await ctx.clerk.sessions.getToken(session.id, name);
    const { header, payload } = decodeJwt(jwt);

    assert.equal(header.alg, 'RS256');
    assert.equal(header.kid, jwk.kid);
    assert.equal(payload.role, 'admin');
    assert.equal(payload.email, address);
    assert.equal(payload.kind, 'template');
    assert.deepEqual(payload.meta, { role: 'admin' });
    assert.equal(payload.sub, user.id);
    assert.equal(typeof payload.iss, 'string');
    assert.equal(typeof payload.jti, 'string');
    assert.ok(payload.jti.length > 0);
    assert.ok(Math.abs(payload.iat - before) <= 5, `iat=${payload.iat} is now`);
    assert.equal(payload.exp, payload.iat + 300, 'exp = iat + lifetime');
    assert.equal(payload.nbf, payload.iat - 10, 'nbf = iat - allowed_clock_skew');
    assert.equal('sid' in payload, false, 'template tokens are not session-bound: no sid');
    assert.equal('v' in payload, false, 'no v in template tokens');
    assert.equal('azp' in payload, false);

    assert.equal(rs256VerifiesWith(jwt, jwk), true);
    const verified = await verifyWithServer(ctx, jwt);
    assert.equal(verified.sub, user.id);
    assert.equal(verified.role, 'admin');
  });

  test('default template lifetime 60 and skew 5; raw response is {object:"token", jwt}', async () => {
    const name = `deflt_${tag()}`;
    await ctx.clerk.jwtTemplates.create({ name, claims: { a: 1 } });
    const { session } = await userWithSession(ctx);
    const res = await ctx.raw('POST', `/v1/sessions/${session.id}/tokens/${name}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.object, 'token');
    const { payload } = decodeJwt(res.json.jwt);
    assert.equal(payload.a, 1);
    assert.equal(payload.exp, payload.iat + 60);
    assert.equal(payload.nbf, payload.iat - 5);
  });

  test('expiresInSeconds overrides the template lifetime', async () => {
    const name = `exp_${tag()}`;
    await ctx.clerk.jwtTemplates.create({ name, claims: {}, lifetime: 300 });
    const { session } = await userWithSession(ctx);
    const { jwt } = await ctx.clerk.sessions.getToken(session.id, name, 120);
    const { payload } = decodeJwt(jwt);
    assert.equal(payload.exp, payload.iat + 120);
  });

  test('template tokens follow template updates and metadata changes', async () => {
    const name = `live_${tag()}`;
    const tmpl = await ctx.clerk.jwtTemplates.create({ name, claims: { r: '{{user.public_metadata.role}}' } });
    const { user, session } = await userWithSession(ctx, { publicMetadata: { role: 'viewer' } });
    assert.equal(decodeJwt((await ctx.clerk.sessions.getToken(session.id, name)).jwt).payload.r, 'viewer');

    await ctx.clerk.users.updateUserMetadata(user.id, { publicMetadata: { role: 'owner' } });
    assert.equal(decodeJwt((await ctx.clerk.sessions.getToken(session.id, name)).jwt).payload.r, 'owner');

    await ctx.clerk.jwtTemplates.update({ templateId: tmpl.id, name, claims: { q: 'new' } });
    const { payload } = decodeJwt((await ctx.clerk.sessions.getToken(session.id, name)).jwt);
    assert.equal(payload.q, 'new');
    assert.equal('r' in payload, false, 'old template claims are gone');
  });

  test('custom session claims do not leak into template tokens, and vice versa', async () => {
    const put = await putSessionClaims(ctx, { session_only: 'yes' });
    assert.equal(put.status, 200, put.text);
    try {
      const name = `sep_${tag()}`;
      await ctx.clerk.jwtTemplates.create({ name, claims: { template_only: 'yes' } });
      const { session } = await userWithSession(ctx);
      const tmplPayload = decodeJwt((await ctx.clerk.sessions.getToken(session.id, name)).jwt).payload;
      assert.equal(tmplPayload.template_only, 'yes');
      assert.equal('session_only' in tmplPayload, false);
      const sessPayload = (await sessionTokenClaims(ctx, session.id)).payload;
      assert.equal(sessPayload.session_only, 'yes');
      assert.equal('template_only' in sessPayload, false);
    } finally {
      await putSessionClaims(ctx, {});
    }
  });

  test('a template cannot override default claims', async () => {
    const name = `resv_${tag()}`;
    const res = await ctx.raw('POST', '/v1/jwt_templates', {
      body: { name, claims: { sub: 'someone-else', iss: 'evil', ok: 1 } },
    });
    if (res.status === 422) {
      assertErrorEnvelope(res, { status: 422 });
      return;
    }
    assert.equal(res.status, 200, res.text);
    const { user, session } = await userWithSession(ctx);
    const { payload } = decodeJwt((await ctx.clerk.sessions.getToken(session.id, name)).jwt);
    assert.equal(payload.sub, user.id, 'sub stays the user id');
    assert.notEqual(payload.iss, 'evil', 'iss stays the instance issuer');
    assert.equal(payload.ok, 1);
  });

  test('private metadata never reaches a template token', async () => {
    const secret = `tp-secret-${tag()}${tag()}`;
    const { session } = await userWithSession(ctx, { privateMetadata: { s: secret } });
    const name = `priv_${tag()}`;
    const res = await ctx.raw('POST', '/v1/jwt_templates', {
      body: { name, claims: { a: '{{user.private_metadata}}', b: '{{user.private_metadata.s}}' } },
    });
    if (res.status === 422) return;
    assert.equal(res.status, 200, res.text);
    const { payloadText } = decodeJwt((await ctx.clerk.sessions.getToken(session.id, name)).jwt);
    assert.equal(payloadText.includes(secret), false, `template token leaks private metadata: ${payloadText}`);
  });

  test('an unknown template name is 404 resource_not_found', async () => {
    const { session } = await userWithSession(ctx);
    await expectApiError(ctx.clerk.sessions.getToken(session.id, `nope_${tag()}`), {
      status: 404,
      code: 'resource_not_found',
    });
  });

  test('a deleted template cannot mint tokens', async () => {
    const name = `gone_${tag()}`;
    const tmpl = await ctx.clerk.jwtTemplates.create({ name, claims: {} });
    const { session } = await userWithSession(ctx);
    await ctx.clerk.sessions.getToken(session.id, name);
    await ctx.clerk.jwtTemplates.delete(tmpl.id);
    await expectApiError(ctx.clerk.sessions.getToken(session.id, name), {
      status: 404,
      code: 'resource_not_found',
    });
  });

  test('a revoked session cannot mint template tokens; an unknown session is 404', async () => {
    const name = `rev_${tag()}`;
    await ctx.clerk.jwtTemplates.create({ name, claims: {} });
    const { session } = await userWithSession(ctx);
    await ctx.clerk.sessions.revokeSession(session.id);
    await expectClientError(ctx.clerk.sessions.getToken(session.id, name));
    await expectApiError(ctx.clerk.sessions.getToken(unknownId('sess'), name), {
      status: 404,
      code: 'resource_not_found',
    });
  });

  test('a wrong secret key is 401 for templates and tokens', async () => {
    const impostor = createClerkClient({ secretKey: `sk_test_${tag()}${tag()}`, apiUrl: ctx.url });
    await expectApiError(impostor.jwtTemplates.list(), { status: 401, code: 'clerk_key_invalid' });
    const { session } = await userWithSession(ctx);
    await expectApiError(impostor.sessions.getToken(session.id), { status: 401, code: 'clerk_key_invalid' });
  });
});
