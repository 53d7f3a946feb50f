import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Each service is deployed on its own image: its code, and the packages its image includes, import
// no service, or that service's code and its dependencies ship too (the review API once carried
// onnxruntime and the training corpus for the trainer's request store). Share through a package.
// The rule sees import and export-from, not require() or import().
const services = ['inference', 'router', 'review-api', 'trainer'];

/** no-restricted-imports for the named services, by package name or by a relative path into them. */
function noServiceImports(names, { relative, message }) {
  const alternatives = names.join('|');
  return [
    'error',
    {
      patterns: [
        { regex: `^@hitl/(${alternatives})(/|$)`, message },
        { regex: `^(\\.\\./)+${relative}(${alternatives})(/|$)`, message },
      ],
    },
  ];
}

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/.stack/**',
      '**/.cache/**',
      '**/.venv/**',
      '**/*.js',
      '**/*.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // Handlers are async to fit their interface even when they do not await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' },
      ],
    },
  },
  {
    // process.env is read in one place per process: the config loader and the entry points.
    files: ['packages/**/src/**/*.ts', 'services/**/src/**/*.ts'],
    ignores: [
      '**/src/main.ts',
      '**/src/config.ts',
      '**/src/cli.ts',
      'packages/service-kit/src/config.ts',
      'packages/testkit/src/**',
    ],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration through loadConfig(env).' },
      ],
    },
  },
  ...services.map((service) => ({
    files: [`services/${service}/src/**/*.ts`],
    rules: {
      '@typescript-eslint/no-restricted-imports': noServiceImports(
        services.filter((other) => other !== service),
        {
          // From services/<x>/src, '../../trainer' or '../../../services/trainer'.
          relative: '(services/)?',
          message:
            'A service imports no other service: each ships in its own image. Share the code through a package (packages/*), as @hitl/db shares the training requests.',
        },
      ),
    },
  })),
  {
    // Tests may start a service in process (the trainer's tests start inference; client and
    // replay tests start the review API), so only src/ is held to this. Type imports count too: the
    // package would still have to depend on the service (the client's types once brought fastify,
    // kafkajs and pg with it); the review API's HTTP contract is in @hitl/api-contract.
    files: ['packages/*/src/**/*.ts'],
    // The harnesses run the services themselves and ship in no image.
    ignores: ['packages/replay/**', 'packages/bench/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': noServiceImports(services, {
        relative: 'services/',
        message:
          "A package imports no service: the service's code and dependencies would follow it into every image that uses the package. Move what is shared into a package.",
      }),
    },
  },
  {
    files: ['**/test/**/*.ts', '**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
