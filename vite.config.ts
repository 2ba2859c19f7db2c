// Builds the browser client (client/) into dist/client, which the server serves at /.
// Client code imports the shared protocol from ../common.
//
// Dev: `npx vite` serves the client with hot reload and proxies the API and the
// socket to a running server (PTYHUB_DEV_TARGET, default http://127.0.0.1:3000).

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const target = process.env.PTYHUB_DEV_TARGET ?? 'http://127.0.0.1:3000';

export default defineConfig({
  root: here('./client'),
  base: '/',
  publicDir: false,
  build: {
    outDir: here('./dist/client'),
    emptyOutDir: true,
    target: 'es2022',
    // Maps for whoever debugs a build, without the comment that points browsers to them:
    // the server never serves them (production carries no source).
    sourcemap: 'hidden',
    // xterm is most of the bundle; one chunk is fine for a single-page tool.
    chunkSizeWarningLimit: 1024,
  },
  server: {
    fs: { allow: [here('./client'), here('./common'), here('./node_modules')] },
    proxy: {
      '/api': { target, changeOrigin: false },
      '/healthz': { target, changeOrigin: false },
      '/socket.io': { target, ws: true, changeOrigin: false },
    },
  },
});
