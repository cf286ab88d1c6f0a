// A real OpenID provider for the HTTP tests of the OIDC sign-in: `oidc-provider` (OpenID
// Certified), pinned by package-lock.json beside this file, installed by infra/scripts/oidc.sh.
//
// Two issuers on one port:
//   <base>/main      the provider most tests sign in with;
//   <base>/rotating  a provider whose signing key the tests rotate (POST <base>/test/rotate).
// Two accounts, with real passwords checked by the login route below:
//   agent / mot-de-passe-agent            e-mail verified, SIRET, like a ProConnect agent;
//   partenaire / mot-de-passe-partenaire  e-mail NOT verified (email_verified: false).
// Clients (secret `secret-<client id>`), each a variant the service must accept or refuse:
//   reemploi                 the normal client;
//   reemploi-unsigned        its ID tokens are unsigned (`alg: none`);
//   reemploi-wrong-nonce     its ID tokens carry another nonce (re-signed with the provider key);
//   reemploi-wrong-audience  its ID tokens name another audience (re-signed likewise);
//   reemploi-expiring        ID tokens live 1 second and the token endpoint answers 2 s late;
//   reemploi-rotating        (rotating issuer) the normal client;
//   reemploi-retired         (rotating issuer) its ID tokens are signed with the key the
//                            provider rotated out at the last POST /test/rotate.
// Test-only variants: never a configuration to copy.
//
// Prints `OIDC_PROVIDER_URL=<base>` on stdout once listening (OIDC_PORT, default 0 = any).
// Redirect URIs are `<OIDC_REDIRECT_BASE>/v1/auth/oidc/<name>/callback` (default base
// `http://reemploi.test`, what the tests use as REEMPLOI_PUBLIC_URL).

import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';
import { SignJWT, exportJWK, generateKeyPair, decodeJwt, decodeProtectedHeader } from 'jose';

const redirectBase = (process.env.OIDC_REDIRECT_BASE || 'http://reemploi.test').replace(/\/$/, '');
const port = Number(process.env.OIDC_PORT || 0);
const host = '127.0.0.1';
const NAMES = ['proconnect', 'keycloak', 'partner', 'unsigned', 'wrongnonce', 'wrongaud', 'expiring', 'rotating', 'retired'];

const ACCOUNTS = {
  agent: {
    password: 'mot-de-passe-agent',
    claims: {
      sub: 'agent-0001',
      email: 'agent@mairie-exemple.fr',
      email_verified: true,
      given_name: 'Camille',
      usual_name: 'Martin',
      siret: process.env.OIDC_AGENT_SIRET || '21750001600019',
    },
  },
  partenaire: {
    password: 'mot-de-passe-partenaire',
    claims: {
      sub: 'partenaire-0002',
      email: 'partenaire@exemple.org',
      email_verified: false,
      given_name: 'Dominique',
      usual_name: 'Durand',
    },
  },
};

async function newKey() {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig' };
  return { jwk, privateKey };
}

const client = (id) => ({
  client_id: id,
  client_secret: `secret-${id}`,
  redirect_uris: NAMES.map((n) => `${redirectBase}/v1/auth/oidc/${n}/callback`),
  post_logout_redirect_uris: [`${redirectBase}/`],
  grant_types: ['authorization_code'],
  response_types: ['code'],
});

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function resign(idToken, key, change) {
  const header = decodeProtectedHeader(idToken);
  const payload = { ...decodeJwt(idToken), ...change };
  return new SignJWT(payload).setProtectedHeader({ ...header, kid: key.jwk.kid }).sign(key.privateKey);
}

function makeProvider(issuer, key, clients, tamper) {
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [key.jwk] },
    cookies: { keys: ['cle-des-cookies-du-fournisseur-de-test'] },
    claims: {
      openid: ['sub', 'acr', 'amr'],
      email: ['email', 'email_verified'],
      given_name: ['given_name'],
      usual_name: ['usual_name'],
      siret: ['siret'],
    },
    acrValues: ['eidas1'],
    // Claims in the ID token itself, as ProConnect's clients read them.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    pkce: { required: () => true },
    ttl: {
      IdToken: (ctx, token, c) => (c?.clientId === 'reemploi-expiring' ? 1 : 3600),
    },
    async findAccount(ctx, id) {
      const account = Object.values(ACCOUNTS).find((a) => a.claims.sub === id);
      return account && { accountId: id, claims: async () => ({ ...account.claims }) };
    },
    // First-party clients: the grant is given without a consent page.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
      await grant.save();
      return grant;
    },
  });
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.method === 'POST' && ctx.path.endsWith('/token') && ctx.status === 200 && ctx.body?.id_token) {
      const aud = decodeJwt(ctx.body.id_token).aud;
      const change = tamper[aud];
      if (change) ctx.body = { ...ctx.body, id_token: await change(ctx.body.id_token) };
    }
  });
  return provider;
}

let base;
const mainKey = await newKey();
const rotating = { key: await newKey(), retired: null, provider: null };
const providers = {};

function buildRotating() {
  rotating.provider = makeProvider(`${base}/rotating`, rotating.key, [client('reemploi-rotating'), client('reemploi-retired')], {
    'reemploi-retired': async (t) => {
      if (!rotating.retired) throw new Error('no key was rotated out yet');
      return resign(t, rotating.retired, {});
    },
  });
  providers.rotating = rotating.provider;
}

function buildMain() {
  providers.main = makeProvider(`${base}/main`, mainKey, [
    client('reemploi'), client('reemploi-unsigned'), client('reemploi-wrong-nonce'),
    client('reemploi-wrong-audience'), client('reemploi-expiring'),
  ], {
    'reemploi-unsigned': async (t) => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(decodeJwt(t))}.`,
    'reemploi-wrong-nonce': async (t) => resign(t, mainKey, { nonce: 'un-autre-nonce' }),
    'reemploi-wrong-audience': async (t) => resign(t, mainKey, { aud: 'un-autre-client', azp: undefined }),
    'reemploi-expiring': async (t) => { await sleep(2100); return t; },
  });
}

async function readForm(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// The login form's target: checks the password, then finishes the interaction with the
// authentication context (acr, amr) that ProConnect also reports.
async function login(provider, req, res) {
  const form = await readForm(req);
  const account = ACCOUNTS[form.get('login') || ''];
  if (form.get('prompt') !== 'login' || !account || account.password !== form.get('password')) {
    res.writeHead(401, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<p>Identifiant ou mot de passe incorrect.</p>');
    return;
  }
  await provider.interactionFinished(req, res, {
    login: { accountId: account.claims.sub, acr: 'eidas1', amr: ['pwd'] },
  }, { mergeWithLastSubmission: false });
}

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, base);
    if (req.method === 'POST' && url.pathname === '/test/rotate') {
      rotating.retired = rotating.key;
      rotating.key = await newKey();
      buildRotating();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kid: rotating.key.jwk.kid, retired: rotating.retired.jwk.kid }));
      return;
    }
    const match = url.pathname.match(/^\/(main|rotating)(\/.*)?$/);
    if (!match) {
      res.writeHead(url.pathname === '/health' ? 200 : 404).end();
      return;
    }
    const provider = providers[match[1]];
    if (req.method === 'POST' && /^\/interaction\/[^/]+$/.test(match[2] || '')) {
      await login(provider, req, res);
      return;
    }
    // Mounted like express's app.use('/main', ...): the provider reads its mount path from
    // originalUrl.
    req.originalUrl = req.url;
    req.url = req.url.slice(match[1].length + 1) || '/';
    provider.callback()(req, res);
  } catch (e) {
    console.error(e);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  }
});

server.listen(port, host, () => {
  base = `http://${host}:${server.address().port}`;
  buildMain();
  buildRotating();
  console.log(`OIDC_PROVIDER_URL=${base}`);
});
