// Users through @clerk/backend: create, read, update, delete, ban/lock, passwords, identifier
// conflicts. Reference: backend-api.md §2 (User object), §4 (endpoints), §6 (errors).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { createClerkClient } from '@clerk/backend';

import { email, expectApiError, tag, unknownUserId, useServer } from './harness.mjs';

const ctx = useServer();

// Not in any breach list and long enough for Clerk's policy.
const PASSWORD = 'roster-Integration-pw-7f3a9c';

// Every field §2 marks required ("Req"), which strict clients (pydantic) insist on.
const REQUIRED_USER_FIELDS = [
  'id', 'object', 'external_id', 'primary_email_address_id', 'primary_phone_number_id',
  'primary_web3_wallet_id', 'username', 'first_name', 'last_name', 'has_image', 'public_metadata',
  'email_addresses', 'phone_numbers', 'web3_wallets', 'passkeys', 'password_enabled',
  'two_factor_enabled', 'totp_enabled', 'backup_code_enabled', 'mfa_enabled_at', 'mfa_disabled_at',
  'external_accounts', 'saml_accounts', 'enterprise_accounts', 'last_sign_in_at', 'banned', 'locked',
  'lockout_expires_in_seconds', 'verification_attempts_remaining', 'updated_at', 'created_at',
  'delete_self_enabled', 'create_organization_enabled', 'last_active_at', 'legal_accepted_at',
];

const USER_ID = /^user_[0-9A-Za-z]{27}$/;

function assertRecentMillis(value, label) {
  assert.equal(typeof value, 'number', `${label} is a number`);
  assert.ok(Number.isInteger(value), `${label} is an integer`);
  // Milliseconds, not seconds, and taken "now" (generous window for slow CI machines).
  assert.ok(Math.abs(value - Date.now()) < 120_000, `${label}=${value} is within 2 min of now (ms)`);
}

describe('createUser', () => {
  test('returns a complete User with identifiers, names and all three metadata tiers', async () => {
    const address = email('create');
    const username = `create_${tag()}`;
    const before = Date.now();
    const user = await ctx.clerk.users.createUser({
      emailAddress: [address],
      password: PASSWORD,
      username,
      firstName: 'Ada',
      lastName: 'Lovelace',
      publicMetadata: { role: 'admin', plan: { tier: 'pro', seats: 5 } },
      privateMetadata: { stripeCustomerId: 'cus_123' },
      unsafeMetadata: { theme: 'dark' },
    });

    assert.match(user.id, USER_ID);
    assert.equal(user.raw.object, 'user');
    assert.equal(user.username, username);
    assert.equal(user.firstName, 'Ada');
    assert.equal(user.lastName, 'Lovelace');
    assert.equal(user.fullName, 'Ada Lovelace');
    assert.equal(user.externalId, null);
    assert.equal(user.passwordEnabled, true);
    assert.equal(user.banned, false);
    assert.equal(user.locked, false);
    assert.equal(user.twoFactorEnabled, false);

    assert.equal(user.emailAddresses.length, 1);
    const [primary] = user.emailAddresses;
    assert.equal(primary.emailAddress, address);
    assert.match(primary.id, /^idn_[0-9A-Za-z]{27}$/);
    assert.equal(user.primaryEmailAddressId, primary.id);
    assert.equal(user.primaryEmailAddress?.emailAddress, address);
    assert.equal(primary.verification?.status, 'verified');
    assert.equal(primary.verification?.strategy, 'admin');
    assert.deepEqual(primary.linkedTo, []);

    assert.deepEqual(user.publicMetadata, { role: 'admin', plan: { tier: 'pro', seats: 5 } });
    assert.deepEqual(user.privateMetadata, { stripeCustomerId: 'cus_123' });
    assert.deepEqual(user.unsafeMetadata, { theme: 'dark' });

    assertRecentMillis(user.createdAt, 'createdAt');
    assertRecentMillis(user.updatedAt, 'updatedAt');
    assert.ok(user.createdAt >= before - 5_000, 'createdAt is not before the request (ms clock)');
    assert.ok(user.updatedAt >= user.createdAt, 'updatedAt >= createdAt');
    assert.equal(typeof user.imageUrl, 'string', 'imageUrl is a string (the SDK types it non-null)');

    // Wire shape: every required field present (possibly null), snake_case on the wire.
    for (const field of REQUIRED_USER_FIELDS) {
      assert.ok(field in user.raw, `User.${field} is present on the wire`);
    }
    assert.ok('private_metadata' in user.raw && 'unsafe_metadata' in user.raw);
    assert.equal('password' in user.raw, false, 'the password is never echoed');
    assert.equal('password_digest' in user.raw, false, 'no password digest on the wire');
    const rawEmail = user.raw.email_addresses[0];
    assert.equal(rawEmail.object, 'email_address');
    assert.equal(rawEmail.reserved, false);
    assert.deepEqual(rawEmail.linked_to, []);
    for (const field of ['created_at', 'updated_at']) {
      assertRecentMillis(rawEmail[field], `email_addresses[0].${field}`);
    }

    const fetched = await ctx.clerk.users.getUser(user.id);
    assert.equal(fetched.id, user.id);
    assert.equal(fetched.username, username);
    assert.equal(fetched.primaryEmailAddressId, primary.id);
    assert.equal(fetched.createdAt, user.createdAt);
    assert.deepEqual(fetched.publicMetadata, user.publicMetadata);
    assert.deepEqual(fetched.privateMetadata, user.privateMetadata);
    assert.deepEqual(fetched.unsafeMetadata, user.unsafeMetadata);
  });

  test('imageUrl is a URL even without an uploaded image (§2 "Clerk always gives a URL")', async () => {
    const user = await ctx.clerk.users.createUser({ emailAddress: [email('avatar')] });
    assert.equal(user.hasImage, false);
    assert.match(user.imageUrl, /^https?:\/\/\S+$/, `imageUrl was ${JSON.stringify(user.imageUrl)}`);
  });

  test('defaults: metadata tiers are {} and optional fields are null', async () => {
    const address = email('minimal');
    const user = await ctx.clerk.users.createUser({ emailAddress: [address] });
    assert.deepEqual(user.publicMetadata, {});
    assert.deepEqual(user.privateMetadata, {});
    assert.deepEqual(user.unsafeMetadata, {});
    assert.equal(user.username, null);
    assert.equal(user.firstName, null);
    assert.equal(user.externalId, null);
    assert.equal(user.passwordEnabled, false);
    assert.equal(user.primaryPhoneNumberId, null);
  });

  test('the first of several email addresses becomes primary', async () => {
    const first = email('first');
    const second = email('second');
    const user = await ctx.clerk.users.createUser({ emailAddress: [first, second] });
    assert.deepEqual(
      user.emailAddresses.map((e) => e.emailAddress).sort(),
      [first, second].sort(),
    );
    assert.equal(user.primaryEmailAddress?.emailAddress, first);
    assert.notEqual(user.emailAddresses[0].id, user.emailAddresses[1].id);
  });

  test('externalId is stored and returned', async () => {
    const externalId = `ext-${tag()}`;
    const user = await ctx.clerk.users.createUser({ emailAddress: [email('ext')], externalId });
    assert.equal(user.externalId, externalId);
    assert.equal((await ctx.clerk.users.getUser(user.id)).externalId, externalId);
  });

  test('a taken email address is rejected with form_identifier_exists', async () => {
    const address = email('taken');
    await ctx.clerk.users.createUser({ emailAddress: [address] });
    await expectApiError(ctx.clerk.users.createUser({ emailAddress: [address] }), {
      status: 422,
      code: 'form_identifier_exists',
      paramName: 'email_address',
    });
    assert.equal(await ctx.clerk.users.getCount({ emailAddress: [address] }), 1);
  });

  test('a taken username is rejected with form_identifier_exists', async () => {
    const username = `taken_${tag()}`;
    await ctx.clerk.users.createUser({ emailAddress: [email('u1')], username });
    const other = email('u2');
    await expectApiError(ctx.clerk.users.createUser({ emailAddress: [other], username }), {
      status: 422,
      code: 'form_identifier_exists',
      paramName: 'username',
    });
    assert.equal(await ctx.clerk.users.getCount({ emailAddress: [other] }), 0, 'no user created');
  });

  test('a duplicate externalId is rejected with 422', async () => {
    const externalId = `dup-${tag()}`;
    await ctx.clerk.users.createUser({ emailAddress: [email('x1')], externalId });
    const err = await expectApiError(
      ctx.clerk.users.createUser({ emailAddress: [email('x2')], externalId }),
      { status: 422 },
    );
    // §13 q7: the live code is unverified; either catalog entry is acceptable.
    assert.ok(
      ['form_identifier_exists', 'form_already_exists'].includes(err.errors[0].code),
      `code was ${err.errors[0].code}`,
    );
  });

  test('a malformed email address is rejected with form_param_format_invalid', async () => {
    await expectApiError(ctx.clerk.users.createUser({ emailAddress: ['not-an-email'] }), {
      status: 422,
      code: 'form_param_format_invalid',
      paramName: 'email_address',
    });
  });

  test('a too-short password is rejected and creates nothing', async () => {
    const address = email('shortpw');
    await expectApiError(ctx.clerk.users.createUser({ emailAddress: [address], password: 'short' }), {
      status: 422,
      code: 'form_password_length_too_short',
    });
    assert.equal(await ctx.clerk.users.getCount({ emailAddress: [address] }), 0);
  });

  test('a breached password is form_password_pwned unless skipPasswordChecks', async () => {
    const address = email('pwned');
    for (const password of ['password123', 'Password123', 'iloveyou123']) {
      await expectApiError(ctx.clerk.users.createUser({ emailAddress: [address], password }), {
        status: 422,
        code: 'form_password_pwned',
        paramName: 'password',
      });
    }
    assert.equal(await ctx.clerk.users.getCount({ emailAddress: [address] }), 0);
    const user = await ctx.clerk.users.createUser({ emailAddress: [address], password: 'password123', skipPasswordChecks: true });
    assert.equal(user.passwordEnabled, true);
    // A breached new password on update is refused too, and the old one still works.
    await expectApiError(ctx.clerk.users.updateUser(user.id, { password: 'iloveyou123' }), {
      status: 422,
      code: 'form_password_pwned',
      paramName: 'password',
    });
    assert.deepEqual(await ctx.clerk.users.verifyPassword({ userId: user.id, password: 'password123' }), { verified: true });
  });
});

describe('getUser', () => {
  test('an unknown id is 404 resource_not_found', async () => {
    await expectApiError(ctx.clerk.users.getUser(unknownUserId()), {
      status: 404,
      code: 'resource_not_found',
    });
  });

  test('a wrong secret key is 401 clerk_key_invalid', async () => {
    const user = await ctx.clerk.users.createUser({ emailAddress: [email('wrongkey')] });
    const impostor = createClerkClient({ secretKey: `sk_test_${tag()}${tag()}`, apiUrl: ctx.url });
    await expectApiError(impostor.users.getUser(user.id), {
      status: 401,
      code: 'clerk_key_invalid',
    });
    await expectApiError(impostor.users.getUserList(), { status: 401, code: 'clerk_key_invalid' });
  });
});

describe('updateUser', () => {
  test('timezone: set at creation, changed, refused when it is no zone name', async () => {
    const user = await ctx.clerk.users.createUser({ emailAddress: [email('tz')], timezone: 'Europe/London' });
    assert.equal(user.timezone, 'Europe/London');
    const plain = await ctx.clerk.users.createUser({ emailAddress: [email('tz')] });
    assert.equal(plain.timezone, null);
    const moved = await ctx.clerk.users.updateUser(user.id, { timezone: 'America/Argentina/Buenos_Aires' });
    assert.equal(moved.timezone, 'America/Argentina/Buenos_Aires');
    await expectApiError(ctx.clerk.users.updateUser(user.id, { timezone: 'Mars Base/One' }), {
      status: 422,
      code: 'form_param_format_invalid',
      paramName: 'timezone',
    });
    assert.equal((await ctx.clerk.users.getUser(user.id)).timezone, 'America/Argentina/Buenos_Aires');
  });

  test('changes names and username and leaves metadata alone', async () => {
    const user = await ctx.clerk.users.createUser({
      emailAddress: [email('upd')],
      firstName: 'Old',
      publicMetadata: { keep: true },
      privateMetadata: { secret: 1 },
    });
    const username = `renamed_${tag()}`;
    const updated = await ctx.clerk.users.updateUser(user.id, {
      firstName: 'New',
      lastName: 'Name',
      username,
    });
    assert.equal(updated.id, user.id);
    assert.equal(updated.firstName, 'New');
    assert.equal(updated.lastName, 'Name');
    assert.equal(updated.username, username);
    assert.deepEqual(updated.publicMetadata, { keep: true });
    assert.deepEqual(updated.privateMetadata, { secret: 1 });
    assert.ok(updated.updatedAt >= user.updatedAt);
    assert.equal(updated.createdAt, user.createdAt);

    const fetched = await ctx.clerk.users.getUser(user.id);
    assert.equal(fetched.firstName, 'New');
    assert.equal(fetched.username, username);
  });

  test('a username taken by someone else is rejected', async () => {
    const username = `owner_${tag()}`;
    await ctx.clerk.users.createUser({ emailAddress: [email('own')], username });
    const other = await ctx.clerk.users.createUser({ emailAddress: [email('oth')] });
    await expectApiError(ctx.clerk.users.updateUser(other.id, { username }), {
      status: 422,
      code: 'form_identifier_exists',
      paramName: 'username',
    });
    assert.equal((await ctx.clerk.users.getUser(other.id)).username, null);
  });

  test('an unknown user is 404', async () => {
    await expectApiError(ctx.clerk.users.updateUser(unknownUserId(), { firstName: 'X' }), {
      status: 404,
      code: 'resource_not_found',
    });
  });
});

describe('deleteUser', () => {
  test('returns a deleted object, then the user is gone', async () => {
    const address = email('del');
    const user = await ctx.clerk.users.createUser({ emailAddress: [address] });
    const deleted = await ctx.clerk.users.deleteUser(user.id);
    // The SDK types this as User, but the wire gives a DeletedObject (§3).
    assert.equal(deleted.deleted, true);
    assert.equal(deleted.id, user.id);
    assert.equal(deleted.object, 'user');

    await expectApiError(ctx.clerk.users.getUser(user.id), {
      status: 404,
      code: 'resource_not_found',
    });
    await expectApiError(ctx.clerk.users.deleteUser(user.id), {
      status: 404,
      code: 'resource_not_found',
    });
    assert.equal(await ctx.clerk.users.getCount({ userId: [user.id] }), 0);

    // The identifier is released with the user.
    const again = await ctx.clerk.users.createUser({ emailAddress: [address] });
    assert.notEqual(again.id, user.id);
  });
});

describe('ban, unban, lock, unlock', () => {
  test('ban and unban flip banned', async () => {
    const user = await ctx.clerk.users.createUser({ emailAddress: [email('ban')] });
    const banned = await ctx.clerk.users.banUser(user.id);
    assert.equal(banned.id, user.id);
    assert.equal(banned.banned, true);
    assert.equal((await ctx.clerk.users.getUser(user.id)).banned, true);

    const unbanned = await ctx.clerk.users.unbanUser(user.id);
    assert.equal(unbanned.banned, false);
    assert.equal((await ctx.clerk.users.getUser(user.id)).banned, false);
  });

  test('lock and unlock flip locked', async () => {
    const user = await ctx.clerk.users.createUser({ emailAddress: [email('lock')] });
    const locked = await ctx.clerk.users.lockUser(user.id);
    assert.equal(locked.locked, true);
    assert.equal((await ctx.clerk.users.getUser(user.id)).locked, true);

    const unlocked = await ctx.clerk.users.unlockUser(user.id);
    assert.equal(unlocked.locked, false);
    assert.equal((await ctx.clerk.users.getUser(user.id)).locked, false);
  });

  test('banning an unknown user is 404', async () => {
    await expectApiError(ctx.clerk.users.banUser(unknownUserId()), {
      status: 404,
      code: 'resource_not_found',
    });
  });
});

describe('verifyPassword', () => {
  test('accepts the right password and rejects a wrong one', async () => {
    const user = await ctx.clerk.users.createUser({
      emailAddress: [email('pw')],
      password: PASSWORD,
    });
    const ok = await ctx.clerk.users.verifyPassword({ userId: user.id, password: PASSWORD });
    assert.equal(ok.verified, true);

    await expectApiError(
      ctx.clerk.users.verifyPassword({ userId: user.id, password: `${PASSWORD}-wrong` }),
      { status: 422, code: 'form_password_incorrect' },
    );
  });
});
