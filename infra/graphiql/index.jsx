// GraphiQL for the gateway in dev: the page gateway/graphiql serves at /graphiql loads this bundle
// (and nothing else: no CDN, every asset from the gateway itself).
//
// The gateway asks every request for a bearer token and registry data for a purpose, so the page
// puts two fields above GraphiQL: the token (in dev `lienthong dev token --agency motcua-danang`
// prints one) and X-Purpose. Other headers (X-Dossier, X-Officer, X-Request-Id) go in GraphiQL's
// headers editor, which wins for any header it names. Headers are kept in memory only: a token
// must not outlive the tab in localStorage (GraphiQL's shouldPersistHeaders stays off).
import { GraphiQL } from 'graphiql';
import { useEffect, useMemo, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';
import './lienthong.css';

// Monaco runs its language services in web workers; esbuild builds each as a script of its own
// beside this bundle (build.mjs), so they load from the gateway too (CSP worker-src 'self').
const WORKERS = {
  json: 'json.worker.js',
  graphql: 'graphql.worker.js',
  editor: 'editor.worker.js',
};
globalThis.MonacoEnvironment = {
  getWorker(_workerId, label) {
    const file = WORKERS[label] ?? WORKERS.editor;
    return new Worker(new URL(`./${file}`, import.meta.url), { name: label });
  },
};

const root = document.getElementById('lienthong-graphiql');
const endpoint = root.dataset.endpoint || '/graphql';
const DEFAULT_QUERY = `# Liên Thông gateway (dev). Put a token above, then run (Ctrl-Enter), e.g.:
#   lienthong dev token --agency motcua-danang
query AdminUnit {
  adminUnit(code: "48") {
    name
  }
}
`;

function bearer(token) {
  const value = token.trim().replace(/^Bearer\s+/i, '');
  return value ? `Bearer ${value}` : null;
}

// One POST per operation, as GraphQL-over-HTTP clients send it (the newer media type first: a
// request the gateway refuses then comes back 4xx without `data`); the answer is shown whatever
// the status (a 401 or 429 carries GraphQL errors), and a body that is not JSON becomes an error.
function makeFetcher({ token, purpose }) {
  const fromFields = {};
  const authorization = bearer(token);
  if (authorization) fromFields.Authorization = authorization;
  if (purpose.trim()) fromFields['X-Purpose'] = purpose.trim();
  return async (params, options) => {
    const response = await fetch(endpoint, {
      method: 'POST',
      credentials: 'omit',
      headers: {
        Accept: 'application/graphql-response+json, application/json;q=0.9',
        'Content-Type': 'application/json',
        ...fromFields,
        ...(options?.headers ?? {}),
      },
      body: JSON.stringify(params),
    });
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      return { errors: [{ message: `HTTP ${response.status}: ${text.slice(0, 500)}` }] };
    }
  };
}

function initialQuery() {
  // `/graphiql?query=…` opens with that document (links in docs and tests)
  return new URLSearchParams(window.location.search).get('query') ?? undefined;
}

function App() {
  const [token, setToken] = useState('');
  const [purpose, setPurpose] = useState('CT01');
  // GraphiQL introspects again whenever its fetcher changes: change it once typing pauses, not
  // on every keystroke of a pasted token.
  const [settled, setSettled] = useState({ token, purpose });
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return undefined;
    }
    const timer = setTimeout(() => setSettled({ token, purpose }), 300);
    return () => clearTimeout(timer);
  }, [token, purpose]);
  const fetcher = useMemo(() => makeFetcher(settled), [settled]);
  const query = useMemo(initialQuery, []);

  return (
    <div className="lt-page">
      <form className="lt-auth" onSubmit={(event) => event.preventDefault()}>
        <label>
          Bearer token
          <input
            id="lt-token"
            name="token"
            type="password"
            autoComplete="off"
            spellCheck="false"
            placeholder="paste a token"
            value={token}
            onChange={(event) => setToken(event.target.value)}
          />
        </label>
        <label>
          X-Purpose
          <input
            id="lt-purpose"
            name="purpose"
            autoComplete="off"
            spellCheck="false"
            size="8"
            value={purpose}
            onChange={(event) => setPurpose(event.target.value)}
          />
        </label>
        <span className="lt-hint">
          In dev, <code>lienthong dev token --agency motcua-danang</code> prints a token.
        </span>
      </form>
      <div className="lt-graphiql">
        <GraphiQL
          fetcher={fetcher}
          defaultQuery={DEFAULT_QUERY}
          initialQuery={query}
          defaultEditorToolsVisibility="headers"
          shouldPersistHeaders={false}
        />
      </div>
    </div>
  );
}

createRoot(root).render(<App />);
