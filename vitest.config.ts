import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Without a C compiler `npm install` still succeeds and hesse runs on the reference kernels; the
// tests of the native kernels then cannot run. They are left out with a notice, unless
// HESSE_REQUIRE_NATIVE=1 (CI), under which a missing addon fails them instead.
const nativeBuilt = existsSync(new URL('./build/Release/hesse_native.node', import.meta.url));
const skipNative = !nativeBuilt && process.env.HESSE_REQUIRE_NATIVE !== '1';
if (skipNative) process.stderr.write('hesse: the native addon is not built, so its tests (test/kernels/native-*) are skipped\n');

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...(skipNative ? ['test/kernels/native-*.test.ts'] : [])],
    globalSetup: ['test/globalSetup.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
