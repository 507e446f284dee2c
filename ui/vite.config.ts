import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));

// The dashboard page: built into dist/ui (git-ignored) and served by `understudy serve` (/ui) and `understudy ui`.
// Relative addresses (base './') let the same build work under any mount path; nothing is fetched from a CDN.
export default defineConfig({
  root: here,
  base: './',
  logLevel: 'warn',
  build: {
    outDir: path.join(here, '..', 'dist', 'ui'),
    emptyOutDir: true,
    chunkSizeWarningLimit: 1000,
  },
});
