// Bundles GraphiQL (ES modules on npm) for the browser with esbuild: the page's script and
// stylesheet, and the three web workers Monaco needs, into gateway/graphiql/static/. The gateway
// serves that folder at /graphiql/assets/ (gateway/graphiql/views.py); nothing comes from a CDN.
// Run by `make install` (`npm ci`, then `npm run build`); the output is not committed.
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', '..', 'gateway', 'graphiql', 'static');

const common = {
  bundle: true,
  minify: true,
  legalComments: 'linked', // the licences of what is bundled, beside each file
  target: ['es2022'],
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
};

// A fresh folder each time: stale chunks of an earlier build must not linger in what is served.
await rm(out, { recursive: true, force: true });

await esbuild.build({
  ...common,
  entryPoints: { graphiql: join(here, 'index.jsx') },
  outdir: out,
  format: 'esm', // the page loads it with <script type="module">
  // No code splitting: GraphiQL imports Monaco and prettier lazily, and esbuild would put their
  // CSS in chunks that nothing loads; one script and one stylesheet hold everything instead.
  jsx: 'automatic',
  loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file' },
  assetNames: '[name]-[hash]',
});

// Classic (non-module) workers: every browser the team uses starts them.
await esbuild.build({
  ...common,
  entryPoints: {
    'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
    'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
    'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
  },
  outdir: out,
  format: 'iife',
});
