// Listing and counting users through @clerk/backend: filters, paging and ordering.
// Reference: backend-api.md §4.1 (GET /users), §4.2 (GET /users/count), §11.
//
// This file owns its server: the five users created below are the only users it ever holds, so
// counts are exact.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { expectApiError, sleep, tag, useServer } from './harness.mjs';

const t = tag();
// Creation order; usernames deliberately not alphabetical in this order.
const SPECS = [
  { name: 'charlie', externalId: `ext-c-${t}` },
  { name: 'alice', externalId: `ext-a-${t}` },
  { name: 'echo' },
  { name: 'bravo' },
  { name: 'delta' },
];
/** @type {import('@clerk/backend').User[]} */
const users = [];
const byName = {};

const ids = (list) => list.map((u) => u.id);
const sortedIds = (list) => ids(list).sort();

const ctx = useServer({ setup: createUsers });

async function createUsers() {
  for (const spec of SPECS) {
    const user = await ctx.clerk.users.createUser({
      emailAddress: [`${spec.name}.${t}@example.com`],
      username: `${spec.name}_${t}`,
      firstName: spec.name[0].toUpperCase() + spec.name.slice(1),
      lastName: `Tester${t}`,
      ...(spec.externalId ? { externalId: spec.externalId } : {}),
    });
    users.push(user);
    byName[spec.name] = user;
    // Distinct created_at values, so created_at ordering is unambiguous.
    await sleep(5);
  }
}

describe('getUserList', () => {
  test('returns {data, totalCount}; newest first by default', async () => {
    const res = await ctx.clerk.users.getUserList();
    assert.equal(res.totalCount, SPECS.length);
    assert.equal(res.data.length, SPECS.length);
    assert.deepEqual(ids(res.data), ids(users).reverse());
    for (const user of res.data) {
      assert.match(user.id, /^user_/);
      assert.ok(user.emailAddresses.length === 1, 'list items are full User objects');
    }
  });

  test('orderBy -created_at and +created_at', async () => {
    const desc = await ctx.clerk.users.getUserList({ orderBy: '-created_at' });
    assert.deepEqual(ids(desc.data), ids(users).reverse());
    const asc = await ctx.clerk.users.getUserList({ orderBy: '+created_at' });
    assert.deepEqual(ids(asc.data), ids(users));
    for (let i = 1; i < asc.data.length; i++) {
      assert.ok(asc.data[i - 1].createdAt <= asc.data[i].createdAt, 'ascending created_at');
    }
  });

  test('orderBy username (implicit +) and -username', async () => {
    const alphabetical = ['alice', 'bravo', 'charlie', 'delta', 'echo'].map((n) => `${n}_${t}`);
    const asc = await ctx.clerk.users.getUserList({ orderBy: 'username' });
    assert.deepEqual(asc.data.map((u) => u.username), alphabetical);
    const plus = await ctx.clerk.users.getUserList({ orderBy: '+username' });
    assert.deepEqual(plus.data.map((u) => u.username), alphabetical);
    const desc = await ctx.clerk.users.getUserList({ orderBy: '-username' });
    assert.deepEqual(desc.data.map((u) => u.username), [...alphabetical].reverse());
  });

  test('an unknown orderBy field is 422', async () => {
    await expectApiError(ctx.clerk.users.getUserList({ orderBy: '-favourite_colour' }), {
      status: 422,
      code: 'form_param_format_invalid',
    });
  });

  test('limit and offset page through the list; totalCount ignores them', async () => {
    const pages = [];
    for (const offset of [0, 2, 4]) {
      const page = await ctx.clerk.users.getUserList({ orderBy: '+created_at', limit: 2, offset });
      assert.equal(page.totalCount, SPECS.length, `totalCount on page at offset ${offset}`);
      pages.push(ids(page.data));
    }
    assert.deepEqual(pages, [
      ids(users.slice(0, 2)),
      ids(users.slice(2, 4)),
      ids(users.slice(4)),
    ]);

    const beyond = await ctx.clerk.users.getUserList({ limit: 2, offset: 10 });
    assert.deepEqual(beyond.data, []);
    assert.equal(beyond.totalCount, SPECS.length);

    const one = await ctx.clerk.users.getUserList({ limit: 1 });
    assert.deepEqual(ids(one.data), [users.at(-1).id], 'limit=1 gives the newest');
  });

  test('emailAddress filter: exact match, values ORed', async () => {
    const res = await ctx.clerk.users.getUserList({
      emailAddress: [`alice.${t}@example.com`, `bravo.${t}@example.com`],
    });
    assert.deepEqual(sortedIds(res.data), sortedIds([byName.alice, byName.bravo]));
    assert.equal(res.totalCount, 2);
  });

  test('userId filter', async () => {
    const res = await ctx.clerk.users.getUserList({ userId: [byName.echo.id, byName.delta.id] });
    assert.deepEqual(sortedIds(res.data), sortedIds([byName.echo, byName.delta]));
    assert.equal(res.totalCount, 2);
  });

  test('externalId filter', async () => {
    const res = await ctx.clerk.users.getUserList({ externalId: [`ext-a-${t}`] });
    assert.deepEqual(ids(res.data), [byName.alice.id]);
    assert.equal(res.data[0].externalId, `ext-a-${t}`);
    assert.equal(res.totalCount, 1);
  });

  test('username filter', async () => {
    const res = await ctx.clerk.users.getUserList({ username: [`charlie_${t}`, `delta_${t}`] });
    assert.deepEqual(sortedIds(res.data), sortedIds([byName.charlie, byName.delta]));
    assert.equal(res.totalCount, 2);
  });

  test('query: partial match over username/email, first name and user id', async () => {
    const byUsername = await ctx.clerk.users.getUserList({ query: 'echo' });
    assert.deepEqual(ids(byUsername.data), [byName.echo.id]);
    assert.equal(byUsername.totalCount, 1);

    const byFirstName = await ctx.clerk.users.getUserList({ query: 'Delt' });
    assert.deepEqual(ids(byFirstName.data), [byName.delta.id]);

    const byTag = await ctx.clerk.users.getUserList({ query: t });
    assert.equal(byTag.totalCount, SPECS.length);

    const fragment = byName.bravo.id.slice(5, 20);
    const byId = await ctx.clerk.users.getUserList({ query: fragment });
    assert.deepEqual(ids(byId.data), [byName.bravo.id]);
  });

  test('different filters are ANDed', async () => {
    const res = await ctx.clerk.users.getUserList({
      username: [`alice_${t}`, `bravo_${t}`],
      emailAddress: [`alice.${t}@example.com`, `echo.${t}@example.com`],
    });
    assert.deepEqual(ids(res.data), [byName.alice.id]);
    assert.equal(res.totalCount, 1);
  });

  test('a filter matching nobody gives an empty page and zero', async () => {
    const res = await ctx.clerk.users.getUserList({ emailAddress: [`nobody.${t}@example.com`] });
    assert.deepEqual(res.data, []);
    assert.equal(res.totalCount, 0);
  });
});

describe('getCount', () => {
  test('counts all users and filtered users', async () => {
    assert.equal(await ctx.clerk.users.getCount(), SPECS.length);
    assert.equal(await ctx.clerk.users.getCount({ query: t }), SPECS.length);
    assert.equal(await ctx.clerk.users.getCount({ username: [`alice_${t}`, `echo_${t}`] }), 2);
    assert.equal(await ctx.clerk.users.getCount({ userId: [byName.charlie.id] }), 1);
    assert.equal(await ctx.clerk.users.getCount({ externalId: [`ext-c-${t}`, `ext-a-${t}`] }), 2);
    assert.equal(await ctx.clerk.users.getCount({ emailAddress: [`zulu.${t}@example.com`] }), 0);
  });

  test('a deleted user disappears from list and count', async () => {
    const extra = await ctx.clerk.users.createUser({ emailAddress: [`foxtrot.${t}@example.com`] });
    assert.equal(await ctx.clerk.users.getCount(), SPECS.length + 1);
    await ctx.clerk.users.deleteUser(extra.id);
    assert.equal(await ctx.clerk.users.getCount(), SPECS.length);
    const list = await ctx.clerk.users.getUserList({ limit: 100 });
    assert.equal(ids(list.data).includes(extra.id), false);
  });
});
