// A Keycloak-shaped OpenID provider for protocol-level tests: panva's oidc-provider (OpenID
// certified) mounted under /realms/<realm>, issuing client-credentials JWT access tokens with
// Keycloak's claims (azp, realm_access.roles, resource_access). Loopback only.
// Usage: node server.mjs <port> <realm> <audience> <clients.json>
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const [port, realm, audience, clientsFile] = process.argv.slice(2);
const prefix = `/realms/${realm}`;
const issuer = `http://127.0.0.1:${port}${prefix}`;
const clients = JSON.parse(readFileSync(clientsFile, 'utf8'));
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'stand-in-1', use: 'sig', alg: 'RS256' };
const rolesByClient = Object.fromEntries(clients.map((c) => [c.client_id, c.roles || []]));
const opaqueClients = new Set(clients.filter((c) => c.opaque).map((c) => c.client_id));

const provider = new Provider(issuer, {
  clients: clients.map(({ roles, opaque, ...client }) => ({
    grant_types: ['client_credentials'], redirect_uris: [], response_types: [], ...client,
  })),
  jwks: { keys: [signingKey] },
  routes: {
    jwks: '/protocol/openid-connect/certs',
    token: '/protocol/openid-connect/token',
    introspection: '/protocol/openid-connect/token/introspect',
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: () => true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:lienthong:gateway',
      useGrantedResource: () => true,
      // Clients flagged `opaque` get opaque access tokens (for introspection); others JWTs.
      getResourceServerInfo: (ctx, resource, client) => ({
        scope: 'openid',
        audience,
        accessTokenTTL: 300,
        accessTokenFormat: opaqueClients.has(client.clientId) ? 'opaque' : 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: (ctx, token) => {
    const roles = rolesByClient[token.clientId] || [];
    return {
      azp: token.clientId,
      realm_access: { roles },
      resource_access: { [audience]: { roles } },
    };
  },
});
provider.proxy = false;

const callback = provider.callback();
http.createServer((req, res) => {
  if (!req.url.startsWith(prefix)) { res.statusCode = 404; res.end(); return; }
  req.originalUrl = req.url; // oidc-provider builds its URLs from the mounted path
  req.url = req.url.slice(prefix.length) || '/';
  callback(req, res);
}).listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
