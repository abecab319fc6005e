import { defineConfig } from 'vitest/config';

// `npm run dev` proxies the API to a running server (NIMBUS_API, default the `make run` address).
const api = process.env.NIMBUS_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  server: {
    proxy: {
      '/api': { target: api, changeOrigin: false },
      '/health': { target: api },
    },
  },
  build: { outDir: 'dist', assetsDir: 'assets', sourcemap: true },
  test: { include: ['tests/**/*.test.ts'], environment: 'node' },
});
