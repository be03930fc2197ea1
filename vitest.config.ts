import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure logic, no servers) and `integration` (real etcd, kube-apiserver and
// PostgreSQL started once by test/env/global-setup.ts). `npm test` runs both.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/env/global-setup.ts'],
          setupFiles: ['test/env/show-logs-on-failure.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
