// Browser end-to-end: real @clerk/clerk-js (served by examples/metadata-app) in Debian Chromium,
// driven by playwright-core, against a real `roster serve`.
//
// Flow: sign up (email, password, birthday, company) → reload → birthday shown → backend sets
// public_metadata.role=admin → /api/role (session token verified by @clerk/backend with Roster's
// public key) says admin → update birthday in the page → sign out → sign in → updated birthday.
// Then: BAPI sees the unsafe_metadata the page wrote, and no Frontend API response the page
// received carried private metadata.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { startServer } from '../js/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const appDir = path.resolve(here, '..', '..', 'examples', 'metadata-app');
const artifacts = path.join(here, 'artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // As a person's browser: with navigator.webdriver set, clerk-js reports every failed token
  // request as `clerk_offline` and never acts on the server's answer.
  '--disable-blink-features=AutomationControlled',
];
const STEP_TIMEOUT_MS = 15_000;
const PRIVATE_VALUE = 'cus_E2E_PRIVATE';

const EMAIL = `e2e-${randomBytes(4).toString('hex')}@example.com`;
const PASSWORD = `Roster-e2e-${randomBytes(6).toString('hex')}!`;
const BIRTHDAY_1 = '1990-04-12';
const BIRTHDAY_2 = '1991-11-30';
const COMPANY = 'Acme E2E';

let roster; // { url, secretKey, stop, logs }
let app; // { url, stop, logs }
let browser;
let page;
let userId;
let birthdayUpdated = false;
let shot = 0;
const fapi = []; // every Frontend API exchange the page saw: {method, url, postData, status, body}
const pending = []; // body reads in flight
const outside = []; // requests that tried to leave the app's origin (all blocked)
const consoleErrors = [];
const expectedErrors = new Set(); // FAPI errors a step provoked on purpose

// ---------------------------------------------------------------------------------------------
// Servers

/** Spawns the example app exactly as `npm start` does, on port 0, and reads its URL from stdout. */
async function startApp(rosterUrl) {
  if (!existsSync(path.join(appDir, 'node_modules', '@clerk', 'clerk-js'))) {
    throw new Error(`${appDir}/node_modules is missing: run \`npm ci\` there (npm test here does it)`);
  }
  const child = spawn(process.execPath, ['server.mjs'], {
    cwd: appDir,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ROSTER_URL: rosterUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (c) => (log = (log + c).slice(-32_000)));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`app did not start in 15 s:\n${log}`)), 15_000);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`app exited (${code}) before listening:\n${log}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      log = (log + line + '\n').slice(-32_000);
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  return {
    url,
    logs: () => log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(t);
      process.removeListener('exit', killOnExit);
    },
  };
}

/** Backend API call with the instance secret key; returns the parsed body, asserting the status. */
async function bapi(method, route, body, expected = 200) {
  const res = await fetch(`${roster.url}/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${roster.secretKey}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  assert.equal(res.status, expected, `BAPI ${method} ${route} → ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

// ---------------------------------------------------------------------------------------------
// Browser helpers

async function screenshot(name) {
  shot += 1;
  const file = path.join(artifacts, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page?.screenshot({ path: file, fullPage: true, timeout: 5_000 }).catch(() => {});
}

/** What went wrong on the page, for assertion messages. */
function pageDiagnostics() {
  const failing = fapi.filter((e) => e.status >= 400);
  return [
    failing.length ? `FAPI errors:\n${failing.map(describe).join('\n')}` : '',
    consoleErrors.length ? `console errors:\n${consoleErrors.slice(-10).join('\n')}` : '',
  ].filter(Boolean).join('\n');
}

function describe(e) {
  return `  ${e.method} ${e.url}${e.postData ? `\n    body: ${e.postData}` : ''}\n    → ${e.status} ${e.body?.slice(0, 600)}`;
}

async function text(selector) {
  return (await page.locator(selector).textContent({ timeout: STEP_TIMEOUT_MS }))?.trim();
}

/** Waits for the page to be idle (no action running) and shows any error the page displayed. */
async function settled() {
  await page.waitForFunction(() => !document.body.dataset.busy, null, { timeout: STEP_TIMEOUT_MS });
  const err = await text('#error');
  return err;
}

async function waitSignedIn(context) {
  try {
    await page.locator('#signed-in').waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  } catch {
    const err = await text('#error').catch(() => '');
    assert.fail(`${context}: the page never showed a signed-in user. Page error: ${err || '(none)'}\n${pageDiagnostics()}`);
  }
}

async function loadPage() {
  // Read the bodies of what the page received so far: a navigation makes them unreadable.
  await Promise.allSettled(pending);
  await page.goto(app.url, { waitUntil: 'load', timeout: STEP_TIMEOUT_MS });
  await page.waitForSelector('body[data-ready="true"]', { timeout: STEP_TIMEOUT_MS });
  const err = await text('#error');
  assert.equal(err, '', `clerk.load() failed: ${err}\n${pageDiagnostics()}`);
}

async function roleFromApi() {
  return page.evaluate(async () => {
    const res = await fetch('/api/role');
    return { status: res.status, body: await res.json() };
  });
}

// ---------------------------------------------------------------------------------------------

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run tests/e2e/ensure-chromium.sh (npm test does)`);
  await mkdir(artifacts, { recursive: true });
  roster = await startServer();
  app = await startApp(roster.url);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    ignoreDefaultArgs: ['--enable-automation'],
    headless: true,
    timeout: 30_000,
  });
  // A fresh context: launch() already gives the browser a throwaway user-data-dir.
  const context = await browser.newContext();
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const appOrigin = new URL(app.url).origin;
  // Nothing may leave the app's origin: no Clerk-hosted script, no telemetry.
  await context.route('**/*', async (route) => {
    const req = route.request();
    const url = req.url();
    const target = new URL(url);
    // Roster's default avatar is the one thing the page loads from Roster itself: user objects
    // carry it as image_url, and the prebuilt components show it.
    const avatar = target.origin === new URL(roster.url).origin && target.pathname.startsWith('/avatars/');
    if (target.origin !== appOrigin && !avatar) {
      outside.push(url);
      return route.abort('blockedbyclient');
    }
    if (!url.includes('/__clerk/')) return route.continue();
    // Frontend API traffic is fetched here and handed to the page, so every body is read before
    // the page sees it: no navigation can make one unreadable.
    const entry = { method: req.method(), url, postData: req.postData(), status: 0, body: '' };
    fapi.push(entry);
    try {
      const response = await route.fetch();
      entry.status = response.status();
      entry.body = await response.text();
      return route.fulfill({ response, body: entry.body });
    } catch (e) {
      entry.body = `<unreadable: ${e.message}>`;
      return route.abort('failed');
    }
  });
  page = await context.newPage();
  page.on('console', (m) => ['error', 'warning'].includes(m.type()) && consoleErrors.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
}, { timeout: 60_000 });

after(async () => {
  await Promise.allSettled(pending);
  await screenshot('final');
  // The whole Frontend API conversation, for debugging server gaps.
  await writeFile(
    path.join(artifacts, 'fapi-log.json'),
    JSON.stringify({ outside, consoleErrors, fapi }, null, 2),
  ).catch(() => {});
  await browser?.close().catch(() => {});
  await app?.stop().catch(() => {});
  await roster?.stop().catch(() => {});
  const failing = fapi.filter((e) => e.status >= 400);
  if (failing.length) console.log(`FAPI responses with status >= 400:\n${failing.map(describe).join('\n')}`);
}, { timeout: 30_000 });

// Steps of one story: a failed step skips the ones that depend on it.
let broken = null;
async function step(t, name, fn, { independent = false } = {}) {
  await t.test(name, { skip: broken ? `skipped: "${broken}" failed` : false }, async () => {
    try {
      await fn();
      await screenshot(name.replace(/\W+/g, '-'));
    } catch (err) {
      if (!independent) broken = name;
      await screenshot(`FAILED-${name.replace(/\W+/g, '-')}`);
      throw err;
    }
  });
}

test('metadata app in a real browser against Roster', { timeout: 110_000 }, async (t) => {
  await step(t, 'configure role claim via BAPI', async () => {
    await bapi('PUT', '/instance/session_token_claims', { claims: { role: '{{user.public_metadata.role}}' } });
  });

  await step(t, 'page loads signed out, clerk-js from the app server', async () => {
    await loadPage();
    assert.equal(await text('#status'), 'Signed out');
  });

  await step(t, 'sign up with email, password, birthday and company', async () => {
    await page.fill('#su-email', EMAIL);
    await page.fill('#su-password', PASSWORD);
    await page.fill('#su-birthday', BIRTHDAY_1);
    await page.fill('#su-company', COMPANY);
    await page.click('#su-submit');
    await settled();
    await waitSignedIn('sign-up');
    userId = await text('#user-id');
    assert.match(userId, /^user_/);
    assert.equal(await text('#birthday'), BIRTHDAY_1);
    assert.deepEqual(JSON.parse(await text('#unsafe')), { birthday: BIRTHDAY_1, company: COMPANY });
  });

  await step(t, 'backend stores private metadata; reload still shows the birthday', async () => {
    await bapi('PATCH', `/users/${userId}/metadata`, { private_metadata: { stripe: PRIVATE_VALUE } });
    await loadPage();
    await waitSignedIn('reload');
    assert.equal(await text('#birthday'), BIRTHDAY_1);
    assert.equal(await text('#email'), EMAIL);
  });

  await step(t, 'role is null before the backend sets it', async () => {
    await page.evaluate(() => window.Clerk.session.getToken({ skipCache: true }));
    const { status, body } = await roleFromApi();
    assert.equal(status, 200, `/api/role → ${status} ${JSON.stringify(body)}\n${app.logs()}`);
    assert.deepEqual(body, { role: null, userId });
  });

  await step(t, 'backend sets public_metadata.role=admin; "show role" says admin', async () => {
    await bapi('PATCH', `/users/${userId}/metadata`, { public_metadata: { role: 'admin' } });
    // A fresh session token carries the new claim (clerk-js also refreshes on its own within 60 s).
    await page.evaluate(() => window.Clerk.session.getToken({ skipCache: true }));
    await page.click('#show-role');
    assert.equal(await settled(), '');
    assert.equal(await text('#role'), 'admin');
    assert.deepEqual((await roleFromApi()).body, { role: 'admin', userId });
    // After a reload the page also sees the new public metadata.
    await loadPage();
    await waitSignedIn('reload after role');
    assert.deepEqual(JSON.parse(await text('#public')), { role: 'admin' });
  });

  await step(t, 'update the birthday from the page', async () => {
    await page.fill('#new-birthday', BIRTHDAY_2);
    await page.click('#birthday-submit');
    const err = await settled();
    assert.equal(err, '', `user.update failed: ${err}\n${pageDiagnostics()}`);
    assert.equal(await text('#birthday'), BIRTHDAY_2);
    assert.deepEqual(JSON.parse(await text('#unsafe')), { birthday: BIRTHDAY_2, company: COMPANY });
    birthdayUpdated = true;
  });

  await step(t, 'sign out', async () => {
    await page.click('#sign-out');
    const err = await settled();
    assert.equal(err, '', `signOut failed: ${err}\n${pageDiagnostics()}`);
    await page.locator('#signed-out').waitFor({ state: 'visible' });
    assert.equal(await text('#status'), 'Signed out');
    const { status } = await roleFromApi();
    assert.equal(status, 401, 'after sign-out /api/role must not see a session');
    // Still signed out after a reload (the server ended the session, not just the page).
    await loadPage();
    assert.equal(await text('#status'), 'Signed out');
  });

  await step(t, 'a wrong password is refused and the page says so', async () => {
    await page.fill('#si-email', EMAIL);
    await page.fill('#si-password', `${PASSWORD}-wrong`);
    await page.click('#si-submit');
    const err = await settled();
    const attempt = fapi.filter((e) => e.url.includes('/client/sign_ins')).at(-1);
    assert.ok(attempt, 'no sign-in request was sent');
    await Promise.allSettled(pending);
    assert.equal(attempt.status, 422, describe(attempt));
    assert.equal(JSON.parse(attempt.body).errors?.[0]?.code, 'form_password_incorrect', describe(attempt));
    assert.notEqual(err, '', 'the page showed no error');
    assert.equal(await text('#status'), 'Signed out');
    expectedErrors.add(attempt);
  }, { independent: true });

  await step(t, 'sign in with the same email and password sees the updated birthday', async () => {
    await page.fill('#si-email', EMAIL);
    await page.fill('#si-password', PASSWORD);
    await page.click('#si-submit');
    const err = await settled();
    const signIn = fapi.filter((e) => e.url.includes('/client/sign_ins'));
    assert.equal(
      err,
      '',
      `sign-in failed in the page: ${err}\n` +
        (signIn.length ? `sign-in exchanges:\n${signIn.map(describe).join('\n')}` : 'no sign-in request was sent') +
        `\n${pageDiagnostics()}`,
    );
    await waitSignedIn('sign-in');
    assert.equal(await text('#user-id'), userId);
    assert.equal(await text('#birthday'), BIRTHDAY_2);
    await page.click('#show-role');
    await settled();
    assert.equal(await text('#role'), 'admin');
  });

  await step(t, 'account page: the sessions list, a password change, and a revoked session signs the page out', async () => {
    const NEW_PASSWORD = `${PASSWORD}-changed`;
    const seen = await page.evaluate(async ({ current, next }) => {
      const sessions = await window.Clerk.user.getSessions();
      await window.Clerk.user.updatePassword({ currentPassword: current, newPassword: next });
      return { sessions: sessions.map((s) => [s.id, s.status]), current: window.Clerk.session.id };
    }, { current: PASSWORD, next: NEW_PASSWORD });
    assert.deepEqual(seen.sessions, [[seen.current, 'active']]);
    const verified = await bapi('POST', `/users/${userId}/verify_password`, { password: NEW_PASSWORD });
    assert.equal(verified.verified, true);

    // The backend revokes the session; the page's next token request gets 401 signed_out and
    // clerk-js signs the page out, rather than retrying a dead session.
    await bapi('POST', `/sessions/${seen.current}/revoke`);
    await page.evaluate(() => window.Clerk.session.getToken({ skipCache: true }).catch(() => null));
    await page.locator('#signed-out').waitFor({ state: 'visible' });
    await Promise.allSettled(pending);
    const refused = fapi.filter((e) => e.url.includes(`/client/sessions/${seen.current}/tokens`) && e.status >= 400);
    assert.ok(refused.length >= 1, 'the token request after the revoke was not refused');
    for (const e of refused) {
      assert.equal(e.status, 401, describe(e));
      assert.equal(JSON.parse(e.body).errors?.[0]?.code, 'signed_out', describe(e));
      expectedErrors.add(e);
    }
  });

  // Checks that stand on their own once the user exists.
  broken = userId ? null : broken;

  // Clerk's prebuilt components (@clerk/ui) on the same Roster: a second person signs up, names
  // themself in the profile, signs out from the user button and signs in again.
  const UI_EMAIL = `e2e-ui-${randomBytes(4).toString('hex')}@example.com`;
  const UI_PASSWORD = `Roster-ui-${randomBytes(6).toString('hex')}!`;
  const status = () => text('#status');
  async function openComponents(which) {
    await Promise.allSettled(pending);
    await page.goto(`${app.url}/components/${which}`, { waitUntil: 'load', timeout: STEP_TIMEOUT_MS });
    await page.waitForSelector('body[data-ready="true"]', { timeout: STEP_TIMEOUT_MS });
    assert.doesNotMatch(await status(), /failed to load/, pageDiagnostics());
  }

  await step(t, 'prebuilt components: <SignUp/> signs a new person up', async () => {
    await openComponents('sign-up');
    await page.fill('input[name="emailAddress"]', UI_EMAIL);
    await page.fill('input[name="password"]', UI_PASSWORD);
    await page.click('button:has-text("Continue")');
    await page.waitForURL('**/components/user-button', { timeout: STEP_TIMEOUT_MS });
    await page.waitForFunction((e) => document.getElementById('status')?.textContent?.includes(e), UI_EMAIL, {
      timeout: STEP_TIMEOUT_MS,
    });
  }, { independent: true });

  await step(t, 'prebuilt components: <UserButton/> opens <UserProfile/>, which renames the user', async () => {
    await page.click('.cl-userButtonTrigger');
    await page.click('button:has-text("Manage account")');
    await page.click('button:has-text("Update profile")');
    await page.fill('input[name="firstName"]', 'Ada');
    await page.fill('input[name="lastName"]', 'Lovelace');
    await page.click('.cl-modalContent button:has-text("Save")');
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.includes('(Ada Lovelace)'), null, {
      timeout: STEP_TIMEOUT_MS,
    });
    const [user] = await bapi('GET', `/users?email_address=${encodeURIComponent(UI_EMAIL)}`);
    assert.deepEqual([user.first_name, user.last_name], ['Ada', 'Lovelace']);
    await page.keyboard.press('Escape');
  }, { independent: true });

  await step(t, 'prebuilt components: sign out from <UserButton/>, sign in with <SignIn/>', async () => {
    await openComponents('user-button');
    await page.click('.cl-userButtonTrigger');
    await page.click('button:has-text("Sign out")');
    await page.waitForURL('**/components/sign-in', { timeout: STEP_TIMEOUT_MS });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'Signed out', null, {
      timeout: STEP_TIMEOUT_MS,
    });
    await page.fill('input[name="identifier"]', UI_EMAIL);
    await page.fill('input[name="password"]', UI_PASSWORD);
    await page.click('button:has-text("Continue")');
    await page.waitForURL('**/components/user-button', { timeout: STEP_TIMEOUT_MS });
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.includes('(Ada Lovelace)'), null, {
      timeout: STEP_TIMEOUT_MS,
    });
  }, { independent: true });

  await step(t, 'BAPI sees exactly the unsafe_metadata the page wrote', async () => {
    const user = await bapi('GET', `/users/${userId}`);
    const birthday = birthdayUpdated ? BIRTHDAY_2 : BIRTHDAY_1;
    assert.deepEqual(user.unsafe_metadata, { birthday, company: COMPANY });
    assert.deepEqual(user.public_metadata, { role: 'admin' });
    assert.deepEqual(user.private_metadata, { stripe: PRIVATE_VALUE });
  });

  await step(t, 'no Frontend API response leaked private metadata', async () => {
    await Promise.allSettled(pending);
    assert.ok(fapi.length > 5, `expected FAPI traffic, saw ${fapi.length} responses`);
    const unread = fapi.filter((e) => e.body.startsWith('<unreadable'));
    assert.deepEqual(unread.map(describe), [], 'every FAPI response body must have been checked');
    const leaks = fapi.filter((e) => e.body.includes('private_metadata') || e.body.includes(PRIVATE_VALUE));
    assert.deepEqual(leaks.map(describe), [], 'FAPI responses carrying private metadata');
    // The reload after the private write must have fetched the client with the user in it.
    assert.ok(fapi.some((e) => e.body.includes(userId)), 'no FAPI response mentioned the user at all');
  });

  await step(t, 'the page never left its origin and FAPI answered no errors', async () => {
    assert.deepEqual(outside, [], 'requests to other origins (blocked)');
    const failing = fapi.filter((e) => e.status >= 400 && !expectedErrors.has(e));
    assert.deepEqual(failing.map(describe), [], 'FAPI responses with status >= 400');
  });
});
