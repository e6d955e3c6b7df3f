// A Keycloak-shaped OpenID provider for protocol-level tests: panva's oidc-provider (OpenID
// certified) mounted under /realms/<realm>, issuing JWT access tokens with Keycloak's claims
// (azp, realm_access.roles, resource_access) for the gateway's audience. Loopback only.
//
// Clients (a JSON list): `client_id`, `client_secret` (none for a public client), `roles` (the
// roles of the client's own service account, client credentials), `opaque` (opaque access tokens,
// for introspection), and for the authorization-code flow `redirect_uris` (`public: true` for a
// public client: no secret, token_endpoint_auth_method none). PKCE (S256) is required, as the
// realm export requires it of its browser clients; consent is not asked (Keycloak's first-party
// clients), so the login is the only step.
//
// Users (an optional JSON list): `username`, `password`, `roles` (realm roles), `sub` (default: a
// UUID derived from the username, as Keycloak's user ids are UUIDs), `name`, and `claims` (e.g.
// `citizen_id`, what the realm's user-attribute mappers put in the token). They sign in on
// oidc-provider's own login page (devInteractions); a wrong username or password ends the
// authorization with `error=access_denied` at the client's redirect_uri.
//
// Usage: node server.mjs <port> <realm> <audience> <clients.json> [users.json]
import http from 'node:http';
import * as querystring from 'node:querystring';
import {
  createHash, generateKeyPairSync, randomBytes, timingSafeEqual,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const [port, realm, audience, clientsFile, usersFile] = process.argv.slice(2);
const prefix = `/realms/${realm}`;
const issuer = `http://127.0.0.1:${port}${prefix}`;
const resource = 'urn:lienthong:gateway';
const clients = JSON.parse(readFileSync(clientsFile, 'utf8'));
const users = usersFile ? JSON.parse(readFileSync(usersFile, 'utf8')) : [];
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'stand-in-1', use: 'sig', alg: 'RS256' };
const rolesByClient = Object.fromEntries(clients.map((c) => [c.client_id, c.roles || []]));
const opaqueClients = new Set(clients.filter((c) => c.opaque).map((c) => c.client_id));

function userId(username) { // a name-based UUID (version 5 layout), stable across starts
  const hex = createHash('sha1').update(`${realm}:${username}`).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
const accounts = new Map(users.map((u) => [u.sub || userId(u.username), u]));
const byUsername = new Map([...accounts].map(([sub, u]) => [u.username, { sub, user: u }]));

function oidcClient({
  roles, opaque, public: isPublic, redirect_uris: redirectUris = [], ...client
}) {
  const interactive = redirectUris.length > 0;
  return {
    grant_types: [
      ...(isPublic ? [] : ['client_credentials']), ...(interactive ? ['authorization_code'] : []),
    ],
    response_types: interactive ? ['code'] : [],
    redirect_uris: redirectUris,
    ...(isPublic ? { token_endpoint_auth_method: 'none' } : {}),
    ...client,
  };
}

const provider = new Provider(issuer, {
  clients: clients.map(oidcClient),
  jwks: { keys: [signingKey] },
  cookies: {
    keys: [randomBytes(32).toString('hex')],
    long: { httpOnly: true, sameSite: 'lax', signed: true },
    short: { httpOnly: true, sameSite: 'lax', signed: true },
  },
  routes: {
    authorization: '/protocol/openid-connect/auth',
    jwks: '/protocol/openid-connect/certs',
    token: '/protocol/openid-connect/token',
    userinfo: '/protocol/openid-connect/userinfo',
    end_session: '/protocol/openid-connect/logout',
    introspection: '/protocol/openid-connect/token/introspect',
  },
  pkce: { methods: ['S256'], required: () => true },
  ttl: {
    AccessToken: 300, AuthorizationCode: 60, ClientCredentials: 300, Grant: 3600, IdToken: 300,
    Interaction: 600, Session: 3600,
  },
  scopes: ['openid', 'profile', 'offline_access'],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
  async findAccount(ctx, sub) {
    const user = accounts.get(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, preferred_username: user.username, ...(user.name ? { name: user.name } : {}) };
      },
    };
  },
  // Keycloak asks no consent of first-party clients: the grant is made at the first login
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' ') || 'openid');
    grant.addResourceScope(resource, 'openid');
    await grant.save();
    return grant;
  },
  features: {
    devInteractions: { enabled: true }, // oidc-provider's own login page
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: () => true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      // Clients flagged `opaque` get opaque access tokens (for introspection); others JWTs.
      getResourceServerInfo: (ctx, indicator, client) => ({
        scope: 'openid',
        audience,
        accessTokenTTL: 300,
        accessTokenFormat: opaqueClients.has(client.clientId) ? 'opaque' : 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: (ctx, token) => {
    const user = token.accountId ? accounts.get(token.accountId) : undefined;
    if (user) { // a person signed in through a client: the user's realm roles, as Keycloak
      return {
        azp: token.clientId,
        typ: 'Bearer',
        preferred_username: user.username,
        ...(user.name ? { name: user.name } : {}),
        realm_access: { roles: user.roles || [] },
        ...(user.claims || {}),
      };
    }
    const roles = rolesByClient[token.clientId] || [];
    return {
      azp: token.clientId,
      realm_access: { roles },
      resource_access: { [audience]: { roles } },
    };
  },
});
provider.proxy = false;

function sameText(a, b) {
  const left = Buffer.from(String(a ?? ''));
  const right = Buffer.from(String(b ?? ''));
  return left.length === right.length && timingSafeEqual(left, right);
}

// The login form's submission, checked before oidc-provider's login page takes it (which would
// sign anyone in under any name): the username must be a user's and the password theirs.
async function signIn(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const form = querystring.parse(Buffer.concat(chunks).toString('utf8'));
  if (form.prompt !== 'login') {
    req.body = querystring.stringify(form);
    return true;
  }
  const found = byUsername.get(String(form.login));
  if (!found || !sameText(form.password, found.user.password)) {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'invalid username or password',
    }, { mergeWithLastSubmission: false });
    return false;
  }
  req.body = querystring.stringify({ prompt: 'login', login: found.sub });
  return true;
}

const interaction = new RegExp(`^${prefix}/interaction/[^/?]+$`);
const callback = provider.callback();
http.createServer(async (req, res) => {
  if (!req.url.startsWith(prefix)) { res.statusCode = 404; res.end(); return; }
  try {
    if (req.method === 'POST' && interaction.test(req.url.split('?')[0])) {
      if (!(await signIn(req, res))) return;
    }
  } catch (error) {
    console.error(error);
    res.statusCode = 400;
    res.end('login failed');
    return;
  }
  req.originalUrl = req.url; // oidc-provider builds its URLs from the mounted path
  req.url = req.url.slice(prefix.length) || '/';
  callback(req, res);
}).listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
