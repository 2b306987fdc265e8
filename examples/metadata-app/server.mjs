// The example app's server: plain node:http, no framework.
//
//   GET  /                 index.html (with the publishable key filled in)
//   GET  /app.mjs          the page's script
//   GET  /clerk-js/*.js    the @clerk/clerk-js browser bundle and its chunks, from node_modules
//   GET  /components/*     Clerk's prebuilt components (components.html, components.mjs)
//   GET  /clerk-ui/*       the @clerk/ui bundle and its chunks, from node_modules
//   ANY  /__clerk/*        reverse proxy to Roster's Frontend API (${ROSTER_URL}/fapi/*)
//   GET  /api/role         the caller's role, read from a verified Roster session token
//
// Environment: ROSTER_URL (default http://127.0.0.1:4000), PORT (default 3000; 0 picks a free
// port), HOST (default 127.0.0.1), ROSTER_PUBLISHABLE_KEY (default: built from
// "roster.localhost.test"), APP_ORIGIN (the origin browsers use, for `azp`; default: this server's
// http://127.0.0.1:PORT and http://localhost:PORT).

import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyToken } from '@clerk/backend';

const here = path.dirname(fileURLToPath(import.meta.url));
const clerkJsDist = path.join(here, 'node_modules', '@clerk', 'clerk-js', 'dist');
const clerkUiDist = path.join(here, 'node_modules', '@clerk', 'ui', 'dist');

/** `pk_live_` + base64("<host>$") without padding. The host is never contacted: the page sets proxyUrl. */
export function publishableKeyFor(host) {
  return `pk_live_${Buffer.from(`${host}$`).toString('base64').replace(/=+$/, '')}`;
}

/** Roster's public JWKS → the PEM that `verifyToken({ jwtKey })` wants (no per-request network call). */
export async function fetchJwtKey(rosterUrl) {
  const res = await fetch(new URL('/fapi/.well-known/jwks.json', rosterUrl), {
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok) throw new Error(`GET /fapi/.well-known/jwks.json answered ${res.status}`);
  const { keys } = await res.json();
  const jwk = keys?.find((k) => k.kty === 'RSA' && (k.use ?? 'sig') === 'sig');
  if (!jwk) throw new Error('Roster JWKS has no RSA signing key');
  return createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
}

function readCookie(header, name) {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}

// Headers that belong to one hop and must not be forwarded.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host',
]);

/** Forwards /__clerk/<rest> to ${rosterUrl}/fapi/<rest>: method, headers (cookies, Origin), body; Set-Cookie comes back. */
function proxyToFapi(req, res, rosterUrl) {
  const target = new URL(`/fapi${req.url.slice('/__clerk'.length)}`, rosterUrl);
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (!HOP_BY_HOP.has(k)) headers[k] = v;
  }
  headers.host = target.host;
  headers['x-forwarded-host'] = req.headers.host ?? '';
  headers['x-forwarded-proto'] = 'http';
  headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
  const client = target.protocol === 'https:' ? https : http;
  const upstream = client.request(target, { method: req.method, headers, timeout: 15_000 }, (up) => {
    const out = {};
    for (const [k, v] of Object.entries(up.headers)) {
      if (!HOP_BY_HOP.has(k)) out[k] = v; // set-cookie stays an array
    }
    res.writeHead(up.statusCode ?? 502, out);
    up.pipe(res);
  });
  upstream.on('timeout', () => upstream.destroy(new Error('upstream timeout')));
  upstream.on('error', (err) => {
    if (!res.headersSent) sendJson(res, 502, { errors: [{ code: 'proxy_error', message: err.message, long_message: `Roster at ${rosterUrl} is unreachable: ${err.message}` }] });
    else res.destroy();
  });
  req.pipe(upstream);
}

/**
 * Starts the app server. Resolves with { url, server, close } once it listens.
 * @param {{ rosterUrl?: string, port?: number, host?: string, publishableKey?: string, appOrigin?: string }} [opts]
 */
export async function startApp(opts = {}) {
  const rosterUrl = opts.rosterUrl ?? process.env.ROSTER_URL ?? 'http://127.0.0.1:4000';
  const port = Number(opts.port ?? process.env.PORT ?? 3000);
  const host = opts.host ?? process.env.HOST ?? '127.0.0.1';
  const publishableKey =
    opts.publishableKey ?? process.env.ROSTER_PUBLISHABLE_KEY ?? publishableKeyFor('roster.localhost.test');
  let authorizedParties = [];

  // Derived once at startup; if Roster was not up yet, the first /api/role call tries again.
  let jwtKey = fetchJwtKey(rosterUrl);
  jwtKey.catch((err) => console.warn(`could not load Roster's JWKS yet (${err.message}); will retry on demand`));
  const currentJwtKey = async () => {
    try {
      return await jwtKey;
    } catch {
      jwtKey = fetchJwtKey(rosterUrl);
      return jwtKey;
    }
  };

  const indexHtml = (await readFile(path.join(here, 'index.html'), 'utf8')).replaceAll(
    '%PUBLISHABLE_KEY%',
    publishableKey,
  );
  const appJs = await readFile(path.join(here, 'app.mjs'), 'utf8');
  const componentsHtml = (await readFile(path.join(here, 'components.html'), 'utf8')).replaceAll(
    '%PUBLISHABLE_KEY%',
    publishableKey,
  );
  const componentsJs = await readFile(path.join(here, 'components.mjs'), 'utf8');

  async function role(req, res) {
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : readCookie(req.headers.cookie, '__session');
    if (!token) return sendJson(res, 401, { error: 'signed_out' });
    let claims;
    try {
      claims = await verifyToken(token, { jwtKey: await currentJwtKey(), authorizedParties });
    } catch (err) {
      return sendJson(res, 401, { error: err.reason ?? err.message });
    }
    sendJson(res, 200, { role: claims.role ?? null, userId: claims.sub });
  }

  const server = http.createServer(async (req, res) => {
    try {
      const { pathname } = new URL(req.url, 'http://app');
      if (pathname === '/__clerk' || pathname.startsWith('/__clerk/')) return proxyToFapi(req, res, rosterUrl);
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method_not_allowed' });
      if (pathname === '/' || pathname === '/index.html') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        return res.end(indexHtml);
      }
      if (pathname === '/app.mjs') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
        return res.end(appJs);
      }
      if (pathname === '/components' || pathname.startsWith('/components/')) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        return res.end(componentsHtml);
      }
      if (pathname === '/components.mjs') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
        return res.end(componentsJs);
      }
      // Bundles and their lazily loaded chunks: plain file names only, nothing outside dist.
      const bundle = /^\/(clerk-js|clerk-ui)\/([\w.-]+\.(js|css))$/.exec(pathname);
      if (bundle) {
        const dist = bundle[1] === 'clerk-js' ? clerkJsDist : clerkUiDist;
        const body = await readFile(path.join(dist, bundle[2])).catch(() => null);
        if (!body) return sendJson(res, 404, { error: 'not_found' });
        const type = bundle[3] === 'css' ? 'text/css' : 'text/javascript; charset=utf-8';
        res.writeHead(200, { 'content-type': type });
        return res.end(body);
      }
      if (pathname === '/api/role') return await role(req, res);
      if (pathname === '/favicon.ico') {
        res.writeHead(204);
        return res.end();
      }
      sendJson(res, 404, { error: 'not_found' });
    } catch (err) {
      console.error(err);
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_error' });
      else res.destroy();
    }
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actualPort = server.address().port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
  const appOrigin = opts.appOrigin ?? process.env.APP_ORIGIN;
  authorizedParties = appOrigin
    ? [appOrigin]
    : [...new Set([url, `http://localhost:${actualPort}`, `http://127.0.0.1:${actualPort}`])];
  return {
    url,
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const app = await startApp();
  console.log(`metadata-app listening on ${app.url} (Roster: ${process.env.ROSTER_URL ?? 'http://127.0.0.1:4000'})`);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => app.close().then(() => process.exit(0)));
  }
}
