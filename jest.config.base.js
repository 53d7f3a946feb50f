// Shared jest settings: TypeScript compiled to CommonJS by swc, one place for all packages.
/** @type {(dir: string, options?: { onnxruntime?: boolean }) => import('jest').Config} */
module.exports = function jestConfig(dir, options = {}) {
  // `jest --json --outputFile=.test-results/jest.json` (each package's test script) needs the folder;
  // tools/test-summary.js adds those files up into one closing line.
  require('node:fs').mkdirSync(require('node:path').join(dir, '.test-results'), { recursive: true });
  return {
    rootDir: dir,
    testEnvironment: 'node',
    testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/src/**/*.test.ts'],
    transform: {
      '^.+\\.ts$': [
        '@swc/jest',
        {
          jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
          module: { type: 'commonjs' },
          sourceMaps: 'inline',
        },
      ],
    },
    // Integration tests talk to a real broker and database: give them room.
    testTimeout: 60_000,
    // Everything runs in one process per package; packages run two at a time (turbo).
    maxWorkers: 1,
    // A client a test forgot to close must not hang CI after the results are in.
    forceExit: true,
    // onnxruntime-node's native binding returns typed arrays of Node's main realm, which fail the
    // `instanceof Float32Array` checks of onnxruntime-common inside jest's sandbox.
    ...(options.onnxruntime
      ? { setupFiles: [require('node:path').join(__dirname, 'packages/testkit/src/setup-realm.ts')] }
      : {}),
  };
};
