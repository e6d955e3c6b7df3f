// graphql-http's server audit (the GraphQL-over-HTTP specification's checks) against a running
// gateway. Usage: LIENTHONG_AUDIT_TOKEN=<JWT> node audit.mjs <url of /graphql>
// Every request carries `Authorization: Bearer <token>` (the gateway answers nothing without
// one). Prints one JSON array: {id, name, status: ok|notice|warn|error, reason, response:
// {status, contentType, body}} per audit (response only for what did not pass). Exit code 0
// when it ran, whatever the results (the caller judges them); 2 on a usage or fatal error.
import { auditServer } from 'graphql-http';

const [url] = process.argv.slice(2);
const token = process.env.LIENTHONG_AUDIT_TOKEN;
if (!url || !token) {
  console.error('usage: LIENTHONG_AUDIT_TOKEN=<JWT> node audit.mjs <url of /graphql>');
  process.exit(2);
}

// Each response's body, read from a copy before the audit consumes it: what a failure shows
const bodies = new WeakMap();

async function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  const response = await fetch(input, { ...init, headers });
  bodies.set(response, response.clone().text());
  return response;
}

try {
  const results = await auditServer({ url, fetchFn });
  const report = [];
  for (const { id, name, status, reason, response } of results) {
    const entry = { id, name, status };
    if (status !== 'ok') {
      entry.reason = reason;
      if (response) {
        entry.response = {
          status: response.status,
          contentType: response.headers.get('content-type'),
          body: (await (bodies.get(response) ?? Promise.resolve(''))).slice(0, 2000),
        };
      }
    }
    report.push(entry);
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} catch (error) {
  console.error(`the audit could not run: ${error?.stack ?? error}`);
  process.exit(2);
}
