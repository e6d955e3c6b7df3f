// A Keycloak-shaped OpenID provider for protocol-level tests: panva's oidc-provider (OpenID
// certified) mounted under /realms/<realm>, issuing JWT access tokens with Keycloak's claims
// (azp, realm_access.roles, resource_access) for the gateway's audience, and the part of
// Keycloak's Admin REST API under /admin/realms/<realm> that agency provisioning uses
// (gateway/identity/provisioning.py). Loopback only.
//
// Clients (a JSON list): `client_id`, `client_secret` (none for a public client), `roles` (the
// realm roles of the client's own service account, client credentials), `opaque` (opaque access
// tokens, for introspection), `realm_management` (the service account's roles on Keycloak's
// `realm-management` client, which open the Admin REST API: `manage-clients`, `realm-admin`…),
// and for the authorization-code flow `redirect_uris` (`public: true` for a public client: no
// secret, token_endpoint_auth_method none). PKCE (S256) is required, as the realm export
// requires it of its browser clients; consent is not asked (Keycloak's first-party clients), so
// the login is the only step. Every client, configured or created through the Admin REST API,
// is a Keycloak ClientRepresentation held here and handed to oidc-provider through its adapter
// (the supported way to serve clients that change at run time): a disabled client is unknown to
// it, so the token endpoint answers 401 `invalid_client`, as Keycloak does.
//
// Users (an optional JSON list): `username`, `password`, `roles` (realm roles), `sub` (default: a
// UUID derived from the username, as Keycloak's user ids are UUIDs), `name`, and `claims` (e.g.
// `citizen_id`, what the realm's user-attribute mappers put in the token). They sign in on the
// stand-in's own login page (below, `interactionPage`: plain HTML, nothing loaded from anywhere,
// as a closed network needs; oidc-provider's development page links Google Fonts); a wrong
// username or password ends the authorization with `error=access_denied` at the redirect_uri.
//
// Realm (an optional JSON object): `roles`, the realm's roles (names, or `{name, description}`),
// besides those the clients and users hold.
//
// The Admin REST API (bearer token of a client with `realm_management` roles; 401 without a
// valid token, 403 without the role the call needs):
//   GET    /admin/realms/<realm>/clients[?clientId=&search=&first=&max=]   view/query-clients
//   POST   /admin/realms/<realm>/clients            201 + Location; 409 if the clientId exists
//   GET    /admin/realms/<realm>/clients/<id>       view-clients
//   PUT    /admin/realms/<realm>/clients/<id>       204; manage-clients (e.g. `enabled`)
//   DELETE /admin/realms/<realm>/clients/<id>       204; manage-clients
//   GET    /admin/realms/<realm>/clients/<id>/client-secret   {"type": "secret", "value": …}
//   POST   /admin/realms/<realm>/clients/<id>/client-secret   a new secret (manage-clients)
//   GET    /admin/realms/<realm>/clients/<id>/service-account-user
//   GET    /admin/realms/<realm>/roles[/<name>]     view-realm
//   GET|POST|DELETE /admin/realms/<realm>/users/<id>/role-mappings/realm   view/manage-users
// A client created there gets a generated id and secret (unless given) and, with
// `serviceAccountsEnabled`, a service account holding the realm's default roles: none here
// (Keycloak's default-roles-<realm> composite holds offline_access and uma_authorization, which
// the gateway does not read), so its realm roles are those mapped afterwards. Its access tokens'
// audience is the one its `oidc-audience-mapper` names.
//
// Usage: node server.mjs <port> <realm> <audience> <clients.json> [users.json] [realm.json]
import http from 'node:http';
import * as querystring from 'node:querystring';
import {
  createHash, createPublicKey, generateKeyPairSync, randomBytes, randomInt, randomUUID,
  timingSafeEqual, verify,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const [port, realm, audience, clientsFile, usersFile, realmFile] = process.argv.slice(2);
const prefix = `/realms/${realm}`;
const adminPrefix = `/admin/realms/${realm}`;
const issuer = `http://127.0.0.1:${port}${prefix}`;
const resource = 'urn:lienthong:gateway';
const configuredClients = JSON.parse(readFileSync(clientsFile, 'utf8'));
const configuredUsers = usersFile ? JSON.parse(readFileSync(usersFile, 'utf8')) : [];
const realmConfig = realmFile ? JSON.parse(readFileSync(realmFile, 'utf8')) : {};
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicKey = createPublicKey(privateKey);
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'stand-in-1', use: 'sig', alg: 'RS256' };

function nameId(name) { // a name-based UUID (version 5 layout), stable across starts
  const hex = createHash('sha1').update(`${realm}:${name}`).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
const realmId = nameId('realm');

// ---- the realm: roles, users (people and service accounts), clients --------------------------

const MANAGEMENT_ROLES = new Set([
  'realm-admin', 'create-client', 'manage-clients', 'view-clients', 'query-clients',
  'manage-users', 'view-users', 'query-users', 'manage-realm', 'view-realm',
]);

const realmRoles = new Map(); // name: RoleRepresentation
function defineRole(role) {
  const { name, description } = typeof role === 'string' ? { name: role } : role;
  if (!realmRoles.has(name)) {
    realmRoles.set(name, {
      id: nameId(`role:${name}`), name, ...(description ? { description } : {}),
      composite: false, clientRole: false, containerId: realmId,
    });
  }
}
[
  ...(realmConfig.roles || []),
  ...configuredClients.flatMap((c) => c.roles || []),
  ...configuredUsers.flatMap((u) => u.roles || []),
].forEach(defineRole);

const users = new Map(); // id: { id, username, createdTimestamp, realmRoles: Set, person? }
const people = new Map(); // sub: the user, for logins and their tokens
const byUsername = new Map();
for (const person of configuredUsers) {
  const id = person.sub || nameId(person.username);
  const user = {
    id, username: person.username, createdTimestamp: Date.now(),
    realmRoles: new Set(person.roles || []), person,
  };
  users.set(id, user);
  people.set(id, user);
  byUsername.set(person.username, user);
}

function serviceAccount(clientId, roles = [], id = randomUUID()) {
  const user = {
    id, username: `service-account-${clientId}`.toLowerCase(), createdTimestamp: Date.now(),
    realmRoles: new Set(roles),
  };
  users.set(id, user);
  return id;
}

function audienceMapper(name) {
  return {
    name: 'gateway-audience',
    protocol: 'openid-connect',
    protocolMapper: 'oidc-audience-mapper',
    consentRequired: false,
    config: { 'included.client.audience': name, 'access.token.claim': 'true', 'id.token.claim': 'false' },
  };
}

// A ClientRepresentation with the defaults Keycloak fills in, and the mappers given ids
function representation(given) {
  return {
    id: given.id,
    clientId: given.clientId,
    ...(given.name === undefined ? {} : { name: given.name }),
    surrogateAuthRequired: false,
    enabled: true,
    alwaysDisplayInConsole: false,
    clientAuthenticatorType: 'client-secret',
    redirectUris: [],
    webOrigins: [],
    notBefore: 0,
    bearerOnly: false,
    consentRequired: false,
    standardFlowEnabled: true,
    implicitFlowEnabled: false,
    directAccessGrantsEnabled: false,
    serviceAccountsEnabled: false,
    publicClient: false,
    frontchannelLogout: true,
    protocol: 'openid-connect',
    attributes: {},
    authenticationFlowBindingOverrides: {},
    fullScopeAllowed: true,
    nodeReRegistrationTimeout: -1,
    defaultClientScopes: ['web-origins', 'acr', 'profile', 'roles', 'basic', 'email'],
    optionalClientScopes: ['address', 'phone', 'offline_access', 'microprofile-jwt'],
    ...given,
    protocolMappers: (given.protocolMappers || []).map((m) => ({ id: randomUUID(), ...m })),
  };
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function newSecret() { // 32 letters and digits, as Keycloak generates them
  return Array.from({ length: 32 }, () => ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]).join('');
}

const clients = new Map(); // id: { rep, serviceAccount (user id), opaque, management: [] }
function clientNamed(clientId) {
  for (const record of clients.values()) if (record.rep.clientId === clientId) return record;
  return undefined;
}

// What oidc-provider serves for a client: its grants follow the representation's flags
function metadataOf(rep) {
  const interactive = rep.standardFlowEnabled !== false && (rep.redirectUris || []).length > 0;
  const grants = [
    ...(rep.serviceAccountsEnabled && !rep.publicClient ? ['client_credentials'] : []),
    ...(interactive ? ['authorization_code'] : []),
  ];
  return {
    client_id: rep.clientId,
    ...(rep.publicClient ? { token_endpoint_auth_method: 'none' } : { client_secret: rep.secret }),
    grant_types: grants,
    response_types: interactive ? ['code'] : [],
    redirect_uris: interactive ? rep.redirectUris : [],
  };
}

// The audience an oidc-audience-mapper puts in the client's access tokens (Keycloak's
// `included.client.audience`); none: a token no resource server here accepts
function audienceOf(rep) {
  const mapper = (rep.protocolMappers || []).find((m) => m.protocolMapper === 'oidc-audience-mapper'
    && m.config?.['access.token.claim'] !== 'false');
  return mapper?.config?.['included.client.audience'] || mapper?.config?.['included.custom.audience'];
}

for (const {
  client_id: clientId, client_secret: secret, roles = [], opaque, public: isPublic,
  redirect_uris: redirectUris = [], realm_management: management = [],
} of configuredClients) {
  const unknown = management.filter((role) => !MANAGEMENT_ROLES.has(role));
  if (unknown.length) throw new Error(`${clientId}: unknown realm-management roles ${unknown}`);
  const id = nameId(`client:${clientId}`);
  const rep = representation({
    id,
    clientId,
    publicClient: Boolean(isPublic),
    ...(isPublic ? {} : { secret }),
    serviceAccountsEnabled: !isPublic,
    standardFlowEnabled: redirectUris.length > 0,
    redirectUris,
    protocolMappers: [audienceMapper(audience)], // as the realm export's clients have
  });
  clients.set(id, {
    rep,
    serviceAccount: isPublic ? null : serviceAccount(clientId, roles, nameId(`service-account:${clientId}`)),
    opaque: Boolean(opaque),
    management,
  });
}

// ---- oidc-provider ------------------------------------------------------------------------

// oidc-provider's adapter interface over one in-memory map (tokens, codes, sessions, grants,
// interactions expire with their TTL); its `Client` model reads the realm's clients above, so a
// client created, disabled or enabled through the Admin REST API is served as it now stands.
const storage = new Map(); // key: { value, expiresAt }
const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest',
]);
function remember(key, value, expiresIn) {
  if (storage.size > 10000) {
    const now = Date.now();
    for (const [k, entry] of storage) if (entry.expiresAt <= now) storage.delete(k);
  }
  storage.set(key, { value, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
}
function recall(key) {
  const entry = storage.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt <= Date.now()) {
    storage.delete(key);
    return undefined;
  }
  return entry.value;
}

class RealmAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async find(id) {
    if (this.model === 'Client') {
      const record = clientNamed(id);
      return record && record.rep.enabled !== false ? metadataOf(record.rep) : undefined;
    }
    return recall(this.key(id));
  }

  async findByUid(uid) {
    const id = recall(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = recall(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async upsert(id, payload, expiresIn) {
    if (this.model === 'Client') return; // clients are the realm's (dynamic registration is off)
    const key = this.key(id);
    if (this.model === 'Session') remember(`sessionUid:${payload.uid}`, id, expiresIn);
    if (GRANTABLE.has(this.model) && payload.grantId) {
      const grant = recall(`grant:${payload.grantId}`);
      if (grant) grant.push(key);
      else remember(`grant:${payload.grantId}`, [key]);
    }
    if (payload.userCode) remember(`userCode:${payload.userCode}`, id, expiresIn);
    remember(key, payload, expiresIn);
  }

  async consume(id) {
    const payload = recall(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) { storage.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    const grant = recall(`grant:${grantId}`);
    if (grant) grant.forEach((key) => storage.delete(key));
    storage.delete(`grant:${grantId}`);
  }
}

const provider = new Provider(issuer, {
  adapter: RealmAdapter,
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
  // the login (and, should one be needed, consent) pages are the stand-in's, under the realm
  interactions: { url: (ctx, interaction) => `${prefix}/interaction/${interaction.uid}` },
  ttl: {
    AccessToken: 300, AuthorizationCode: 60, ClientCredentials: 300, Grant: 3600, IdToken: 300,
    Interaction: 600, Session: 3600,
  },
  scopes: ['openid', 'profile', 'offline_access'],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
  async findAccount(ctx, sub) {
    const user = people.get(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        const { person } = user;
        return { sub, preferred_username: user.username, ...(person.name ? { name: person.name } : {}) };
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
    devInteractions: { enabled: false }, // the stand-in's own pages (`interactionPage`)
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: () => true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      // Clients flagged `opaque` get opaque access tokens (for introspection); others JWTs.
      getResourceServerInfo: (ctx, indicator, client) => {
        const record = clientNamed(client.clientId);
        return {
          scope: 'openid',
          audience: record ? audienceOf(record.rep) : audience,
          accessTokenTTL: 300,
          accessTokenFormat: record?.opaque ? 'opaque' : 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: (ctx, token) => {
    const user = token.accountId ? people.get(token.accountId) : undefined;
    if (user) { // a person signed in through a client: the user's realm roles, as Keycloak
      const { person } = user;
      return {
        azp: token.clientId,
        typ: 'Bearer',
        preferred_username: user.username,
        ...(person.name ? { name: person.name } : {}),
        realm_access: { roles: [...user.realmRoles] },
        ...(person.claims || {}),
      };
    }
    const record = clientNamed(token.clientId);
    const account = record?.serviceAccount ? users.get(record.serviceAccount) : undefined;
    const roles = account ? [...account.realmRoles] : [];
    const management = record?.management || [];
    return {
      azp: token.clientId,
      realm_access: { roles },
      resource_access: {
        [audience]: { roles },
        ...(management.length ? { 'realm-management': { roles: management } } : {}),
      },
    };
  },
});
provider.proxy = false;
for (const record of clients.values()) {
  await provider.Client.validate(metadataOf(record.rep)); // a bad configured client fails here
}

function sameText(a, b) {
  const left = Buffer.from(String(a ?? ''));
  const right = Buffer.from(String(b ?? ''));
  return left.length === right.length && timingSafeEqual(left, right);
}

// ---- the login and consent pages ----------------------------------------------------------

function escapeHtml(text) {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

// A page with no script, no style sheet, no font, no image: nothing for a browser to fetch, so
// a test recording every request sees none leave loopback. Its policy forbids any fetch; it
// names no form-action, as a login's form posts here and is then redirected to the client.
function page(res, status, title, body) {
  const html = `<!doctype html>
<html lang="vi">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · ${escapeHtml(realm)}</title></head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>`;
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Security-Policy': "default-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  });
  res.end(html);
}

async function interactionPage(req, res, uid) {
  const { prompt, params } = await provider.interactionDetails(req, res);
  const action = `${prefix}/interaction/${encodeURIComponent(uid)}`;
  const client = escapeHtml(params.client_id);
  if (prompt.name === 'login') {
    page(res, 200, 'Đăng nhập (Sign in)', `<p>Ứng dụng <code>${client}</code> yêu cầu đăng nhập.</p>
<form method="post" action="${action}" autocomplete="off">
<input type="hidden" name="prompt" value="login">
<p><label for="login">Tên đăng nhập (username)</label><br>
<input id="login" name="login" required autofocus></p>
<p><label for="password">Mật khẩu (password)</label><br>
<input id="password" name="password" type="password" required></p>
<p><button type="submit">Đăng nhập</button></p>
</form>
<p><a href="${action}/abort">Hủy (cancel)</a></p>`);
    return;
  }
  if (prompt.name === 'consent') {
    page(res, 200, 'Cho phép (Authorize)', `<p>Ứng dụng <code>${client}</code> xin truy cập.</p>
<form method="post" action="${action}">
<input type="hidden" name="prompt" value="consent">
<p><button type="submit">Cho phép (allow)</button></p>
</form>
<p><a href="${action}/abort">Hủy (cancel)</a></p>`);
    return;
  }
  page(res, 501, 'Not implemented', `<p>${escapeHtml(prompt.name)}</p>`);
}

// A login form's submission: the username must be a user's and the password theirs; a consent
// form's grants what the client asked for (as Keycloak's consent screen does once accepted).
async function interactionSubmit(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const form = querystring.parse(Buffer.concat(chunks).toString('utf8'));
  const { prompt, grantId, session, params } = await provider.interactionDetails(req, res);
  if (form.prompt === 'login' && prompt.name === 'login') {
    const found = byUsername.get(String(form.login));
    const result = !found || !sameText(form.password, found.person.password)
      ? { error: 'access_denied', error_description: 'invalid username or password' }
      : { login: { accountId: found.id } };
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    return;
  }
  if (form.prompt === 'consent' && prompt.name === 'consent') {
    const grant = grantId ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { details } = prompt;
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scope] of Object.entries(details.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scope.join(' '));
    }
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } },
      { mergeWithLastSubmission: true });
    return;
  }
  page(res, 400, 'Yêu cầu không hợp lệ (bad request)', '<p>The form does not match this step.</p>');
}

async function interactionAbort(req, res) {
  await provider.interactionFinished(req, res, {
    error: 'access_denied', error_description: 'End-User aborted interaction',
  }, { mergeWithLastSubmission: false });
}

// ---- the Admin REST API -------------------------------------------------------------------

class AdminError extends Error {
  constructor(status, body) {
    super(JSON.stringify(body));
    this.status = status;
    this.body = body;
  }
}
// Keycloak's three error shapes: a bare `error` (401, 403, 404), `errorMessage` (conflicts,
// validation), and OAuth's `error` + `error_description` (a body it cannot parse)
const unauthorized = () => new AdminError(401, { error: 'HTTP 401 Unauthorized' });
const forbidden = () => new AdminError(403, { error: 'unknown_error' });
const notFound = (what) => new AdminError(404, { error: what });
const invalid = (message) => new AdminError(400, { errorMessage: message });

function decodePart(part) { return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')); }

// The caller: the client whose access token (this realm's, unexpired, signed with its key) is
// the bearer, and the realm-management roles the token carries (Keycloak reads them from the
// token). Its client must still exist and be enabled.
async function authenticate(req) {
  const [scheme, value, ...rest] = (req.headers.authorization || '').split(' ');
  if (!scheme || scheme.toLowerCase() !== 'bearer' || !value || rest.length) throw unauthorized();
  let claims;
  const parts = value.split('.');
  if (parts.length === 3) {
    try {
      const header = decodePart(parts[0]);
      const signed = header.alg === 'RS256' && header.typ === 'at+jwt' && verify(
        'sha256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2], 'base64url'),
      );
      claims = signed ? decodePart(parts[1]) : undefined;
    } catch {
      claims = undefined;
    }
    if (!claims || claims.iss !== issuer || !(claims.exp > Date.now() / 1000)) throw unauthorized();
  } else {
    const token = await provider.ClientCredentials.find(value);
    if (!token) throw unauthorized();
    claims = { azp: token.clientId, ...(token.extra || {}) };
  }
  const record = clientNamed(claims.azp);
  if (!record || record.rep.enabled === false) throw unauthorized();
  return new Set(claims.resource_access?.['realm-management']?.roles || []);
}

function requireAny(roles, ...needed) {
  if (!roles.has('realm-admin') && !needed.some((role) => roles.has(role))) throw forbidden();
}

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 1 << 20) throw new AdminError(413, { error: 'HTTP 413 Request Entity Too Large' });
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new AdminError(400, { error: 'invalid_request', error_description: 'Cannot parse the JSON' });
  }
}

function viewOf(rep, roles) {
  const manage = roles.has('realm-admin') || roles.has('manage-clients');
  return { ...rep, access: { view: true, configure: manage, manage } };
}

function userView(user) {
  return {
    id: user.id,
    username: user.username,
    emailVerified: false,
    createdTimestamp: user.createdTimestamp,
    enabled: true,
    totp: false,
    disableableCredentialTypes: [],
    requiredActions: [],
    notBefore: 0,
  };
}

async function checkMetadata(rep) {
  try {
    await provider.Client.validate(metadataOf(rep));
  } catch (error) {
    throw invalid(error.error_description || error.message);
  }
}

function clientById(id) {
  const record = clients.get(id);
  if (!record) throw notFound('Could not find client');
  return record;
}

function isObject(body) { return Boolean(body) && typeof body === 'object' && !Array.isArray(body); }

async function createClient(req, roles) {
  requireAny(roles, 'manage-clients', 'create-client');
  const body = await readJson(req);
  if (!isObject(body)) throw invalid('Invalid client representation');
  if (typeof body.clientId !== 'string' || !body.clientId) throw invalid('Client ID is required');
  if (clientNamed(body.clientId) || (body.id && clients.has(body.id))) {
    throw new AdminError(409, { errorMessage: `Client ${body.clientId} already exists` });
  }
  const rep = representation({ ...body, id: body.id || randomUUID() });
  if (!rep.publicClient && !rep.bearerOnly && !rep.secret) rep.secret = newSecret();
  await checkMetadata(rep);
  clients.set(rep.id, {
    rep,
    serviceAccount: rep.serviceAccountsEnabled ? serviceAccount(rep.clientId) : null,
    opaque: false,
    management: [],
  });
  return [201, undefined, { Location: `http://${req.headers.host}${adminPrefix}/clients/${rep.id}` }];
}

async function updateClient(req, roles, record) {
  requireAny(roles, 'manage-clients');
  const body = await readJson(req);
  if (!isObject(body)) throw invalid('Invalid client representation');
  const changes = Object.fromEntries(Object.entries(body).filter(
    ([name, value]) => value !== null && !['id', 'protocolMappers', 'access'].includes(name),
  ));
  if (changes.clientId && changes.clientId !== record.rep.clientId && clientNamed(changes.clientId)) {
    throw new AdminError(409, { errorMessage: `Client ${changes.clientId} already exists` });
  }
  const rep = { ...record.rep, ...changes };
  await checkMetadata(rep);
  record.rep = rep;
  if (rep.serviceAccountsEnabled && !record.serviceAccount) {
    record.serviceAccount = serviceAccount(rep.clientId);
  }
  return [204];
}

function roleMappings(req, roles, user, body) {
  if (req.method === 'GET') {
    requireAny(roles, 'view-users', 'manage-users');
    return [200, [...user.realmRoles].map((name) => realmRoles.get(name)).filter(Boolean)];
  }
  requireAny(roles, 'manage-users');
  if (!Array.isArray(body)) throw invalid('Invalid role representation');
  const named = body.map((given) => {
    const role = [...realmRoles.values()].find((r) => r.id === given?.id);
    if (!role) throw notFound('Role not found');
    return role.name;
  });
  for (const name of named) {
    if (req.method === 'POST') user.realmRoles.add(name);
    else user.realmRoles.delete(name);
  }
  return [204];
}

async function adminRoute(req) {
  const url = new URL(req.url, 'http://stand-in');
  const roles = await authenticate(req);
  const path = url.pathname.replace(/\/+$/, '');
  if (!path.startsWith(`${adminPrefix}/`) && path !== adminPrefix) throw notFound('Realm not found.');
  const [collection, id, sub, ...more] = path.slice(adminPrefix.length + 1).split('/');
  const { method } = req;
  const notAllowed = () => new AdminError(405, { error: 'HTTP 405 Method Not Allowed' });
  if (collection === 'clients') {
    if (id === undefined) {
      if (method === 'POST') return createClient(req, roles);
      if (method !== 'GET') throw notAllowed();
      requireAny(roles, 'view-clients', 'query-clients', 'manage-clients');
      const wanted = url.searchParams.get('clientId');
      const search = url.searchParams.get('search') === 'true';
      const first = Number(url.searchParams.get('first') || 0);
      const max = url.searchParams.has('max') ? Number(url.searchParams.get('max')) : Infinity;
      const found = [...clients.values()].map((r) => r.rep).filter((rep) => wanted === null
        || (search ? rep.clientId.toLowerCase().includes(wanted.toLowerCase()) : rep.clientId === wanted));
      return [200, found.slice(first, first + max).map((rep) => viewOf(rep, roles))];
    }
    const record = clientById(decodeURIComponent(id));
    if (sub === undefined) {
      if (method === 'GET') {
        requireAny(roles, 'view-clients', 'manage-clients');
        return [200, viewOf(record.rep, roles)];
      }
      if (method === 'PUT') return updateClient(req, roles, record);
      if (method === 'DELETE') {
        requireAny(roles, 'manage-clients');
        clients.delete(record.rep.id);
        if (record.serviceAccount) users.delete(record.serviceAccount);
        return [204];
      }
      throw notAllowed();
    }
    if (sub === 'client-secret' && !more.length) {
      if (method === 'GET') {
        requireAny(roles, 'view-clients', 'manage-clients');
      } else if (method === 'POST') {
        requireAny(roles, 'manage-clients');
        record.rep = { ...record.rep, secret: newSecret() };
      } else {
        throw notAllowed();
      }
      return [200, { type: 'secret', value: record.rep.secret }];
    }
    if (sub === 'service-account-user' && !more.length) {
      if (method !== 'GET') throw notAllowed();
      requireAny(roles, 'view-clients', 'manage-clients');
      if (!record.serviceAccount) {
        const error = `Service account not enabled for the client '${record.rep.clientId}'`;
        throw new AdminError(400, { error });
      }
      return [200, userView(users.get(record.serviceAccount))];
    }
  } else if (collection === 'roles' && sub === undefined) {
    if (method !== 'GET') throw notAllowed();
    requireAny(roles, 'view-realm', 'manage-realm');
    if (id === undefined) return [200, [...realmRoles.values()]];
    const role = realmRoles.get(decodeURIComponent(id));
    if (!role) throw notFound('Could not find role');
    return [200, role];
  } else if (collection === 'users' && id !== undefined && sub === 'role-mappings'
             && more.length === 1 && more[0] === 'realm') {
    const user = users.get(decodeURIComponent(id));
    if (!['GET', 'POST', 'DELETE'].includes(method)) throw notAllowed();
    if (!user) {
      requireAny(roles, 'view-users', 'manage-users');
      throw notFound('User not found');
    }
    return roleMappings(req, roles, user, method === 'GET' ? undefined : await readJson(req));
  }
  throw notFound('Unable to find matching target resource method');
}

async function admin(req, res) {
  let status;
  let body;
  let headers = {};
  try {
    [status, body, headers = {}] = await adminRoute(req);
  } catch (error) {
    if (!(error instanceof AdminError)) console.error(error);
    [status, body] = error instanceof AdminError
      ? [error.status, error.body] : [500, { error: 'unknown_error' }];
  }
  const payload = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    ...headers,
  });
  res.end(payload);
}

// ---- the server ---------------------------------------------------------------------------

const interaction = new RegExp(`^${prefix}/interaction/([^/?]+)(/abort)?$`);
const callback = provider.callback();
http.createServer(async (req, res) => {
  if (req.url.startsWith('/admin/realms/')) { await admin(req, res); return; }
  if (!req.url.startsWith(prefix)) { res.statusCode = 404; res.end(); return; }
  const step = interaction.exec(req.url.split('?')[0]);
  if (step) {
    try {
      if (step[2] && req.method === 'GET') await interactionAbort(req, res);
      else if (!step[2] && req.method === 'GET') await interactionPage(req, res, decodeURIComponent(step[1]));
      else if (!step[2] && req.method === 'POST') await interactionSubmit(req, res);
      else page(res, 405, 'Method not allowed', '');
    } catch (error) { // an expired or unknown interaction: its cookie is gone or stale
      if (!res.headersSent) page(res, 400, 'Đăng nhập thất bại (login failed)', `<p>${escapeHtml(error.message)}</p>`);
    }
    return;
  }
  req.originalUrl = req.url; // oidc-provider builds its URLs from the mounted path
  req.url = req.url.slice(prefix.length) || '/';
  callback(req, res);
}).listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
