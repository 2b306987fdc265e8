// The three metadata tiers through @clerk/backend: Clerk's guide flows, deep merge (PATCH
// /metadata), replace (PUT /metadata, and updateUser which uses it), the 8 KB limit and type checks,
// and concurrent merges. Reference: backend-api.md §4.5, §4.7, §4.8, §5, §6.2.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  compactSize,
  email,
  expectApiError,
  metadataOfSize,
  unknownUserId,
  useServer,
} from './harness.mjs';

const ctx = useServer();

const LIMIT = 8192;

async function newUser(metadata = {}) {
  return ctx.clerk.users.createUser({ emailAddress: [email('meta')], ...metadata });
}

async function metadataOf(userId) {
  const user = await ctx.clerk.users.getUser(userId);
  return {
    publicMetadata: user.publicMetadata,
    privateMetadata: user.privateMetadata,
    unsafeMetadata: user.unsafeMetadata,
  };
}

describe("Clerk's metadata guide flows", () => {
  test('stripe id in private, role in public, birthday in unsafe; read back with getUser', async () => {
    const user = await newUser();

    // https://clerk.com/docs/users/metadata: "Private metadata" example.
    const afterPrivate = await ctx.clerk.users.updateUserMetadata(user.id, {
      privateMetadata: { stripeId: 'cus_Nffr4Kw0oSgE9a' },
    });
    assert.deepEqual(afterPrivate.privateMetadata, { stripeId: 'cus_Nffr4Kw0oSgE9a' });

    // "Public metadata" example.
    await ctx.clerk.users.updateUserMetadata(user.id, { publicMetadata: { role: 'admin' } });

    // "Unsafe metadata" example.
    const last = await ctx.clerk.users.updateUserMetadata(user.id, {
      unsafeMetadata: { birthday: '11-30-1969' },
    });
    const expected = {
      publicMetadata: { role: 'admin' },
      privateMetadata: { stripeId: 'cus_Nffr4Kw0oSgE9a' },
      unsafeMetadata: { birthday: '11-30-1969' },
    };
    assert.deepEqual(
      {
        publicMetadata: last.publicMetadata,
        privateMetadata: last.privateMetadata,
        unsafeMetadata: last.unsafeMetadata,
      },
      expected,
      'the response carries all three tiers, private included',
    );
    assert.deepEqual(await metadataOf(user.id), expected);
  });
});

describe('updateUserMetadata (PATCH, deep merge)', () => {
  test('merges nested objects, deletes nulls at any depth, replaces arrays, leaves other tiers', async () => {
    const user = await newUser({
      publicMetadata: {
        profile: { name: 'Ada', address: { city: 'London', zip: 'N1', country: 'UK' } },
        tags: ['a', 'b', 'c'],
        keep: 'me',
        drop: 'me',
        scalarToObject: 1,
        objectToScalar: { deep: true },
      },
      privateMetadata: { billing: { plan: 'pro' } },
      unsafeMetadata: { ui: { theme: 'dark' } },
    });

    const merged = await ctx.clerk.users.updateUserMetadata(user.id, {
      publicMetadata: {
        profile: { address: { zip: null, street: 'Baker St' }, age: 36 },
        tags: ['z'],
        drop: null,
        missing: null,
        scalarToObject: { now: 'object' },
        objectToScalar: 'flat',
      },
    });

    const expectedPublic = {
      profile: { name: 'Ada', address: { city: 'London', country: 'UK', street: 'Baker St' }, age: 36 },
      tags: ['z'],
      keep: 'me',
      scalarToObject: { now: 'object' },
      objectToScalar: 'flat',
    };
    assert.deepEqual(merged.publicMetadata, expectedPublic);
    assert.equal('drop' in merged.publicMetadata, false, 'null removes the key');
    assert.equal('missing' in merged.publicMetadata, false, 'null on an absent key stores nothing');
    assert.equal('zip' in merged.publicMetadata.profile.address, false, 'null removes nested keys');
    assert.deepEqual(merged.privateMetadata, { billing: { plan: 'pro' } });
    assert.deepEqual(merged.unsafeMetadata, { ui: { theme: 'dark' } });

    assert.deepEqual(await metadataOf(user.id), {
      publicMetadata: expectedPublic,
      privateMetadata: { billing: { plan: 'pro' } },
      unsafeMetadata: { ui: { theme: 'dark' } },
    });
  });

  test('merges several tiers in one call, each independently', async () => {
    const user = await newUser({
      publicMetadata: { a: 1 },
      privateMetadata: { b: { c: 1 } },
      unsafeMetadata: { d: 1 },
    });
    await ctx.clerk.users.updateUserMetadata(user.id, {
      publicMetadata: { a2: 2 },
      privateMetadata: { b: { c2: 2 } },
      unsafeMetadata: { d: null },
    });
    assert.deepEqual(await metadataOf(user.id), {
      publicMetadata: { a: 1, a2: 2 },
      privateMetadata: { b: { c: 1, c2: 2 } },
      unsafeMetadata: {},
    });
  });

  test('keys inside metadata are stored verbatim: camelCase, unicode, punctuation', async () => {
    const user = await newUser();
    const value = {
      camelCaseKey: { innerCamelCase: 1, snake_inside: 2 },
      snake_case_key: true,
      'kebab-key': 'k',
      'Dotted.Key': 'd',
      ключ: 'значение',
      '日本語': ['配列'],
      '🔑': '✓ emoji',
      '': 'empty key',
      'space key': 'x',
    };
    const res = await ctx.clerk.users.updateUserMetadata(user.id, { publicMetadata: value });
    assert.deepEqual(res.publicMetadata, value);
    const fetched = await ctx.clerk.users.getUser(user.id);
    assert.deepEqual(fetched.publicMetadata, value);
    // The wire itself is not camelCased or snake_cased inside metadata (§1 "Body keys").
    assert.deepEqual(fetched.raw.public_metadata, value);
  });

  test('values of every JSON type survive a round trip', async () => {
    const user = await newUser();
    const value = {
      int: 42,
      negative: -7,
      float: 3.25,
      big: 9007199254740991,
      bool: false,
      str: 'line1\nline2 "quoted" \\ \u0001',
      arr: [1, 'two', { three: 3 }, [4], null, true],
      obj: {},
    };
    await ctx.clerk.users.updateUserMetadata(user.id, { privateMetadata: value });
    assert.deepEqual((await metadataOf(user.id)).privateMetadata, value);
  });

  test('a merge advances updatedAt but not createdAt', async () => {
    const user = await newUser();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const res = await ctx.clerk.users.updateUserMetadata(user.id, { publicMetadata: { bump: 1 } });
    assert.ok(res.updatedAt > user.updatedAt, `updatedAt ${res.updatedAt} > ${user.updatedAt}`);
    assert.equal(res.createdAt, user.createdAt);
  });

  test('an empty update changes nothing', async () => {
    const user = await newUser({ publicMetadata: { a: 1 }, privateMetadata: { b: 2 } });
    const res = await ctx.clerk.users.updateUserMetadata(user.id, {});
    assert.deepEqual(res.publicMetadata, { a: 1 });
    assert.deepEqual(res.privateMetadata, { b: 2 });
    await ctx.clerk.users.updateUserMetadata(user.id, { publicMetadata: {} });
    assert.deepEqual((await metadataOf(user.id)).publicMetadata, { a: 1 }, 'merging {} is a no-op');
  });

  test('an unknown user is 404 resource_not_found', async () => {
    await expectApiError(
      ctx.clerk.users.updateUserMetadata(unknownUserId(), { publicMetadata: { a: 1 } }),
      { status: 404, code: 'resource_not_found' },
    );
  });
});

describe('replaceUserMetadata (PUT, replace)', () => {
  test('replaces only the fields sent; {} clears a field', async () => {
    const user = await newUser({
      publicMetadata: { a: 1, nested: { x: 1, y: 2 } },
      privateMetadata: { p: 1 },
      unsafeMetadata: { u: 1 },
    });

    const replaced = await ctx.clerk.users.replaceUserMetadata(user.id, {
      publicMetadata: { nested: { z: 3 } },
    });
    assert.deepEqual(replaced.publicMetadata, { nested: { z: 3 } }, 'no merge at any level');
    assert.deepEqual(replaced.privateMetadata, { p: 1 }, 'omitted field untouched');
    assert.deepEqual(replaced.unsafeMetadata, { u: 1 }, 'omitted field untouched');

    await ctx.clerk.users.replaceUserMetadata(user.id, { privateMetadata: {}, unsafeMetadata: { v: 2 } });
    assert.deepEqual(await metadataOf(user.id), {
      publicMetadata: { nested: { z: 3 } },
      privateMetadata: {},
      unsafeMetadata: { v: 2 },
    });
  });

  test('null inside a replaced value is stored as a value, not a deletion', async () => {
    const user = await newUser({ publicMetadata: { a: 1 } });
    await ctx.clerk.users.replaceUserMetadata(user.id, { publicMetadata: { a: null, b: 2 } });
    assert.deepEqual((await metadataOf(user.id)).publicMetadata, { a: null, b: 2 });
  });

  test('a top-level null wipes the field (stored null, or {} if coerced)', async () => {
    const user = await newUser({ unsafeMetadata: { old: true } });
    const res = await ctx.clerk.users.replaceUserMetadata(user.id, { unsafeMetadata: null });
    const stored = (await ctx.clerk.users.getUser(user.id)).raw.unsafe_metadata;
    for (const value of [res.raw.unsafe_metadata, stored]) {
      assert.ok(
        value === null || (typeof value === 'object' && Object.keys(value).length === 0),
        `expected null or {} (§4.8), got ${JSON.stringify(value)}`,
      );
    }
  });
});

describe('updateUser with metadata (SDK sends PUT /metadata: replace)', () => {
  test('publicMetadata replaces the tier and leaves the others', async () => {
    const user = await newUser({
      publicMetadata: { a: 1, nested: { x: 1 } },
      privateMetadata: { p: 1 },
      unsafeMetadata: { u: 1 },
    });
    const updated = await ctx.clerk.users.updateUser(user.id, { publicMetadata: { b: 2 } });
    assert.deepEqual(updated.publicMetadata, { b: 2 });
    assert.deepEqual(await metadataOf(user.id), {
      publicMetadata: { b: 2 },
      privateMetadata: { p: 1 },
      unsafeMetadata: { u: 1 },
    });
  });

  test('firstName and metadata together: both applied', async () => {
    const user = await newUser({ firstName: 'Before', privateMetadata: { old: 1 } });
    const updated = await ctx.clerk.users.updateUser(user.id, {
      firstName: 'After',
      privateMetadata: { fresh: 1 },
    });
    assert.equal(updated.firstName, 'After');
    assert.deepEqual(updated.privateMetadata, { fresh: 1 });
    const fetched = await ctx.clerk.users.getUser(user.id);
    assert.equal(fetched.firstName, 'After');
    assert.deepEqual(fetched.privateMetadata, { fresh: 1 });
  });
});

describe('the 8 KB limit (§5)', () => {
  test('exactly 8192 bytes of compact JSON is accepted', async () => {
    const user = await newUser();
    const value = metadataOfSize(LIMIT);
    const res = await ctx.clerk.users.updateUserMetadata(user.id, { publicMetadata: value });
    assert.deepEqual(res.publicMetadata, value);
    assert.equal(compactSize((await metadataOf(user.id)).publicMetadata), LIMIT);
  });

  test('a merge whose result exceeds 8192 bytes is 422 and changes nothing', async () => {
    const start = metadataOfSize(LIMIT - 100, 'base');
    const user = await newUser({ publicMetadata: start, privateMetadata: { p: 1 } });
    // Each half is well under the limit; only the merged result is over it.
    const patch = { extra: 'y'.repeat(200) };
    assert.ok(compactSize(patch) < LIMIT);
    assert.ok(compactSize({ ...start, ...patch }) > LIMIT);

    const err = await expectApiError(
      ctx.clerk.users.updateUserMetadata(user.id, { publicMetadata: patch }),
      { status: 422, code: 'form_param_exceeds_allowed_size', paramName: 'public_metadata' },
    );
    assert.match(err.errors[0].longMessage, /public_metadata.*8192 bytes/, 'message names field and limit');
    assert.deepEqual(await metadataOf(user.id), {
      publicMetadata: start,
      privateMetadata: { p: 1 },
      unsafeMetadata: {},
    });
  });

  test('8193 bytes is rejected for each tier with that tier as param_name', async () => {
    const user = await newUser();
    for (const [field, paramName] of [
      ['publicMetadata', 'public_metadata'],
      ['privateMetadata', 'private_metadata'],
      ['unsafeMetadata', 'unsafe_metadata'],
    ]) {
      await expectApiError(
        ctx.clerk.users.updateUserMetadata(user.id, { [field]: metadataOfSize(LIMIT + 1) }),
        { status: 422, code: 'form_param_exceeds_allowed_size', paramName },
      );
    }
    assert.deepEqual(await metadataOf(user.id), {
      publicMetadata: {},
      privateMetadata: {},
      unsafeMetadata: {},
    });
  });

  test('the limit is per tier: 8192 bytes in each of the three at once is fine', async () => {
    const user = await newUser();
    const value = metadataOfSize(LIMIT);
    await ctx.clerk.users.updateUserMetadata(user.id, {
      publicMetadata: value,
      privateMetadata: value,
      unsafeMetadata: value,
    });
    const stored = await metadataOf(user.id);
    assert.equal(compactSize(stored.publicMetadata), LIMIT);
    assert.equal(compactSize(stored.privateMetadata), LIMIT);
    assert.equal(compactSize(stored.unsafeMetadata), LIMIT);
  });

  test('one oversize tier rejects the whole request: the valid tier is not written either', async () => {
    const user = await newUser({ publicMetadata: { before: true } });
    await expectApiError(
      ctx.clerk.users.updateUserMetadata(user.id, {
        publicMetadata: { after: true },
        privateMetadata: metadataOfSize(LIMIT + 1),
      }),
      { status: 422, code: 'form_param_exceeds_allowed_size', paramName: 'private_metadata' },
    );
    assert.deepEqual((await metadataOf(user.id)).publicMetadata, { before: true });
  });

  test('the measure is UTF-8 bytes, not characters', async () => {
    const user = await newUser();
    const overhead = compactSize({ s: '' });
    // 'é' is 2 bytes: fewer than 8192 characters but more than 8192 bytes.
    const over = { s: 'é'.repeat(Math.ceil((LIMIT + 1 - overhead) / 2)) };
    assert.ok(JSON.stringify(over).length < LIMIT && compactSize(over) > LIMIT);
    await expectApiError(ctx.clerk.users.updateUserMetadata(user.id, { unsafeMetadata: over }), {
      status: 422,
      code: 'form_param_exceeds_allowed_size',
      paramName: 'unsafe_metadata',
    });
    const under = { s: 'é'.repeat(Math.floor((LIMIT - overhead) / 2)) };
    assert.ok(compactSize(under) <= LIMIT);
    await ctx.clerk.users.updateUserMetadata(user.id, { unsafeMetadata: under });
    assert.deepEqual((await metadataOf(user.id)).unsafeMetadata, under);
  });

  test('replaceUserMetadata enforces the limit too', async () => {
    const user = await newUser({ privateMetadata: { keep: 1 } });
    await expectApiError(
      ctx.clerk.users.replaceUserMetadata(user.id, { privateMetadata: metadataOfSize(LIMIT + 1) }),
      { status: 422, code: 'form_param_exceeds_allowed_size', paramName: 'private_metadata' },
    );
    assert.deepEqual((await metadataOf(user.id)).privateMetadata, { keep: 1 });
    const exact = metadataOfSize(LIMIT);
    await ctx.clerk.users.replaceUserMetadata(user.id, { privateMetadata: exact });
    assert.deepEqual((await metadataOf(user.id)).privateMetadata, exact);
  });

  test('createUser enforces the limit and creates nothing', async () => {
    const address = email('big');
    await expectApiError(
      ctx.clerk.users.createUser({ emailAddress: [address], publicMetadata: metadataOfSize(LIMIT + 1) }),
      { status: 422, code: 'form_param_exceeds_allowed_size', paramName: 'public_metadata' },
    );
    assert.equal(await ctx.clerk.users.getCount({ emailAddress: [address] }), 0);
  });
});

describe('metadata must be a JSON object (§5 "Wrong type")', () => {
  for (const [label, bad] of [
    ['a string', 'not an object'],
    ['an array', [1, 2, 3]],
    ['a number', 42],
  ]) {
    test(`${label} is 422 form_param_value_invalid and changes nothing`, async () => {
      const user = await newUser({ publicMetadata: { a: 1 }, unsafeMetadata: { u: 1 } });
      await expectApiError(ctx.clerk.users.updateUserMetadata(user.id, { publicMetadata: bad }), {
        status: 422,
        code: 'form_param_value_invalid',
        paramName: 'public_metadata',
      });
      await expectApiError(ctx.clerk.users.replaceUserMetadata(user.id, { unsafeMetadata: bad }), {
        status: 422,
        code: 'form_param_value_invalid',
        paramName: 'unsafe_metadata',
      });
      assert.deepEqual(await metadataOf(user.id), {
        publicMetadata: { a: 1 },
        privateMetadata: {},
        unsafeMetadata: { u: 1 },
      });
    });
  }

  test('createUser with non-object metadata is 422 and creates nothing', async () => {
    const address = email('badmeta');
    await expectApiError(
      ctx.clerk.users.createUser({ emailAddress: [address], privateMetadata: ['x'] }),
      { status: 422, code: 'form_param_value_invalid', paramName: 'private_metadata' },
    );
    assert.equal(await ctx.clerk.users.getCount({ emailAddress: [address] }), 0);
  });
});

describe('concurrency', () => {
  test('50 parallel merges of different keys on one user all survive', async () => {
    const user = await newUser({ publicMetadata: { seed: true } });
    const n = 50;
    const results = await Promise.allSettled(
      Array.from({ length: n }, (_, i) =>
        ctx.clerk.users.updateUserMetadata(user.id, {
          publicMetadata: { [`key${i}`]: i, shared: { [`nested${i}`]: i } },
        }),
      ),
    );
    const failures = results.filter((r) => r.status === 'rejected');
    assert.equal(
      failures.length,
      0,
      `all ${n} merges succeed; first failure: ${failures[0]?.reason?.status} ${JSON.stringify(failures[0]?.reason?.errors)}`,
    );

    const { publicMetadata } = await metadataOf(user.id);
    assert.equal(publicMetadata.seed, true);
    for (let i = 0; i < n; i++) {
      assert.equal(publicMetadata[`key${i}`], i, `key${i} survived`);
      assert.equal(publicMetadata.shared?.[`nested${i}`], i, `shared.nested${i} survived`);
    }
    assert.equal(Object.keys(publicMetadata).length, n + 2);
    assert.equal(Object.keys(publicMetadata.shared).length, n);
  });
});
