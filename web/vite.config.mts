/**
 * The playground's build (README "Playground"): `npm run build:web` writes dist/web/, which the API
 * serves at `/` (src/api/web-app.ts). Everything is bundled: the page loads nothing from elsewhere.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  // JSX compiles to Preact's runtime (jsxImportSource in web/tsconfig.json).
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    // No inline scripts or data: URLs, so the strict Content-Security-Policy holds.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
  },
});
