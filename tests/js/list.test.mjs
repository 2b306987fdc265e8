// Listing and counting users through @clerk/backend: filters, paging and ordering.
// Reference: backend-api.md §4.1 (GET /users), §4.2 (GET /users/count), §11.
//
// Every query is scoped to the five users created here (their emails and last names carry a random
// tag, matched with `query`), and unscoped counts are taken relative to a baseline, so the file also
// holds up when ROSTER_DATABASE_URL points several servers at one shared database.

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

let baseline = 0;

const ids = (list) => list.map((u) => u.id);
/** Restricts a list or count to this file's users (the tag is in every email and last name). */
const mine = (params = {}) => ({ query: t, ...params });
const sortedIds = (list) => ids(list).sort();

const ctx = useServer({ setup: createUsers });

async function createUsers() {
  baseline = await ctx.clerk.users.getCount();
  for (const spec of SPECS) {
    const user = await ctx.clerk.users.createUser({
      emailAddress: [`${spec.name}.${t}@example.com`],
      username: `${spec.name}_${t}`,
      firstName: `${spec.name[0].toUpperCase()}${spec.name.slice(1)}${t}`,
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
    const res = await ctx.clerk.users.getUserList(mine());
    assert.equal(res.totalCount, SPECS.length);
    assert.equal(res.data.length, SPECS.length);
    assert.deepEqual(ids(res.data), ids(users).reverse());
    for (const user of res.data) {
      assert.match(user.id, /^user_/);
      assert.ok(user.emailAddresses.length === 1, 'list items are full User objects');
    }
  });

  test('orderBy -created_at and +created_at', async () => {
    const desc = await ctx.clerk.users.getUserList(mine({ orderBy: '-created_at' }));
    assert.deepEqual(ids(desc.data), ids(users).reverse());
    const asc = await ctx.clerk.users.getUserList(mine({ orderBy: '+created_at' }));
    assert.deepEqual(ids(asc.data), ids(users));
    for (let i = 1; i < asc.data.length; i++) {
      assert.ok(asc.data[i - 1].createdAt <= asc.data[i].createdAt, 'ascending created_at');
    }
  });

  test('orderBy username (implicit +) and -username', async () => {
    const alphabetical = ['alice', 'bravo', 'charlie', 'delta', 'echo'].map((n) => `${n}_${t}`);
    const asc = await ctx.clerk.users.getUserList(mine({ orderBy: 'username' }));
    assert.deepEqual(asc.data.map((u) => u.username), alphabetical);
    const plus = await ctx.clerk.users.getUserList(mine({ orderBy: '+username' }));
    assert.deepEqual(plus.data.map((u) => u.username), alphabetical);
    const desc = await ctx.clerk.users.getUserList(mine({ orderBy: '-username' }));
    assert.deepEqual(desc.data.map((u) => u.username), [...alphabetical].reverse());
  });

  test('orderBy first_name and -email_address', async () => {
    const alphabetical = ['alice', 'bravo', 'charlie', 'delta', 'echo'];
    const byFirst = await ctx.clerk.users.getUserList(mine({ orderBy: 'first_name' }));
    assert.deepEqual(ids(byFirst.data), ids(alphabetical.map((n) => byName[n])));
    const byEmailDesc = await ctx.clerk.users.getUserList(mine({ orderBy: '-email_address' }));
    assert.deepEqual(ids(byEmailDesc.data), ids([...alphabetical].reverse().map((n) => byName[n])));
  });

  test('an unknown orderBy field is 422', async () => {
    await expectApiError(ctx.clerk.users.getUserList({ orderBy: '-favourite_colour' }), {
      status: 422,
      code: 'form_param_format_invalid',
    });
  });

  test('limit above 500 is 422 (§11: max 500)', async () => {
    await expectApiError(ctx.clerk.users.getUserList({ limit: 501 }), { status: 422 });
    const max = await ctx.clerk.users.getUserList(mine({ limit: 500 }));
    assert.equal(max.data.length, SPECS.length);
  });

  test('limit and offset page through the list; totalCount ignores them', async () => {
    const pages = [];
    for (const offset of [0, 2, 4]) {
      const page = await ctx.clerk.users.getUserList(mine({ orderBy: '+created_at', limit: 2, offset }));
      assert.equal(page.totalCount, SPECS.length, `totalCount on page at offset ${offset}`);
      pages.push(ids(page.data));
    }
    assert.deepEqual(pages, [
      ids(users.slice(0, 2)),
      ids(users.slice(2, 4)),
      ids(users.slice(4)),
    ]);

    const beyond = await ctx.clerk.users.getUserList(mine({ limit: 2, offset: 10 }));
    assert.deepEqual(beyond.data, []);
    assert.equal(beyond.totalCount, SPECS.length);

    const one = await ctx.clerk.users.getUserList(mine({ limit: 1 }));
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

  test('userId with + and - prefixes includes and excludes (§4.1)', async () => {
    const without = await ctx.clerk.users.getUserList(mine({ userId: [`-${byName.alice.id}`] }));
    assert.equal(without.totalCount, SPECS.length - 1);
    assert.equal(ids(without.data).includes(byName.alice.id), false);
    const only = await ctx.clerk.users.getUserList({ userId: [`+${byName.alice.id}`] });
    assert.deepEqual(ids(only.data), [byName.alice.id]);
  });

  test('externalId with a - prefix excludes (§4.1)', async () => {
    const res = await ctx.clerk.users.getUserList(mine({ externalId: [`-ext-a-${t}`] }));
    assert.equal(res.totalCount, SPECS.length - 1);
    assert.equal(ids(res.data).includes(byName.alice.id), false);
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
    const byUsername = await ctx.clerk.users.getUserList({ query: `echo_${t.slice(0, 6)}` });
    assert.deepEqual(ids(byUsername.data), [byName.echo.id]);
    assert.equal(byUsername.totalCount, 1);

    const upper = await ctx.clerk.users.getUserList({ query: `ECHO.${t.toUpperCase()}` });
    assert.deepEqual(ids(upper.data), [byName.echo.id], 'query is case-insensitive');

    // Only the first name has "delta" directly followed by the tag.
    const byFirstName = await ctx.clerk.users.getUserList({ query: `elta${t.slice(0, 6)}` });
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
    assert.equal(await ctx.clerk.users.getCount(), baseline + SPECS.length);
    assert.equal(await ctx.clerk.users.getCount({ query: t }), SPECS.length);
    assert.equal(await ctx.clerk.users.getCount({ username: [`alice_${t}`, `echo_${t}`] }), 2);
    assert.equal(await ctx.clerk.users.getCount({ userId: [byName.charlie.id] }), 1);
    assert.equal(await ctx.clerk.users.getCount({ externalId: [`ext-c-${t}`, `ext-a-${t}`] }), 2);
    assert.equal(await ctx.clerk.users.getCount({ emailAddress: [`zulu.${t}@example.com`] }), 0);
  });

  test('a deleted user disappears from list and count', async () => {
    const extra = await ctx.clerk.users.createUser({ emailAddress: [`foxtrot.${t}@example.com`] });
    assert.equal(await ctx.clerk.users.getCount(), baseline + SPECS.length + 1);
    assert.equal(await ctx.clerk.users.getCount(mine()), SPECS.length + 1);
    await ctx.clerk.users.deleteUser(extra.id);
    assert.equal(await ctx.clerk.users.getCount(), baseline + SPECS.length);
    assert.equal(await ctx.clerk.users.getCount(mine()), SPECS.length);
    const list = await ctx.clerk.users.getUserList(mine({ limit: 100 }));
    assert.equal(ids(list.data).includes(extra.id), false);
  });
});
