// Lint: type-aware rules that catch real bugs (floating promises), and the layering rule:
// core <- upstream <- hub <- http <- cli / vscode, and client <- ui <- vscode. The core imports
// neither vscode nor the HTTP edge's router; only src/vscode imports vscode. Nothing in src
// imports express: the edge is node:http (express is a dev dependency of test fixtures).
import tseslint from 'typescript-eslint';

const layer = (files, forbidden, why) => ({
  files,
  rules: {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      { patterns: forbidden.map((group) => ({ group: [group], message: why })) },
    ],
  },
});

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', '.cache/**', 'media/**', '*.mjs'] },
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  layer(['src/core/**'], ['vscode', 'express', 'find-my-way', '**/upstream/**', '**/hub/**', '**/http/**', '**/cli/**', '**/vscode/**'], 'the core is pure: no vscode, no HTTP routing, nothing above it'),
  // Inside the core: shared infrastructure at the bottom; config, scoping, and sessions with
  // ownership and safe mode above it.
  layer(['src/core/infra/**'], ['vscode', 'express', 'find-my-way', '**/config/**', '**/sessions/**', '**/scoping/**', '**/upstream/**', '**/hub/**', '**/http/**', '**/cli/**', '**/vscode/**'], "the core's infrastructure depends on nothing else of the hub's"),
  layer(['src/upstream/**'], ['vscode', 'express', 'find-my-way', '**/hub/**', '**/http/**', '**/cli/**', '**/vscode/**'], 'upstream depends only on core'),
  layer(['src/hub/**'], ['vscode', 'express', 'find-my-way', '**/http/**', '**/cli/**', '**/vscode/**'], 'hub knows nothing of HTTP or VS Code'),
  layer(['src/http/**'], ['vscode', 'express', '**/cli/**', '**/vscode/**'], 'the HTTP edge does not depend on its hosts'),
  layer(['src/client/**'], ['vscode', 'express', 'find-my-way', '**/http/**', '**/cli/**', '**/vscode/**', '**/upstream/**'], 'the admin client speaks HTTP to a hub; it needs only its types'),
  layer(['src/ui/**'], ['vscode', 'express', 'find-my-way', '**/http/**', '**/cli/**', '**/vscode/**', '**/upstream/**', '**/hub/**'], 'view models are pure: tested without VS Code'),
  layer(['src/webview/**'], ['vscode', 'express', 'find-my-way', 'node:*', '**/core/**', '**/upstream/**', '**/hub/**', '**/http/**', '**/client/**', '**/vscode/**'], 'the webview page sees only the shared message types'),
  // The page script is type-checked for the DOM, by its own tsconfig.
  { files: ['src/webview/**'], languageOptions: { parserOptions: { projectService: false, project: './tsconfig.webview.json', tsconfigRootDir: import.meta.dirname } } },
  { files: ['test/**', 'bench/**'], rules: { 'no-console': 'off' } },
  // No SDK object gets a method replaced or wrapped after construction: the hub wraps transports
  // in HookedTransport instead. Assigning a method of another object, or reading a transport's
  // onmessage to chain it, is refused; setting an owned transport's callbacks is the contract.
  {
    files: ['src/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "AssignmentExpression > MemberExpression.left[object.type!='ThisExpression'][property.name=/^(send|start|close|request|notification|handleRequest|handlePostMessage|connect)$/]",
          message: 'Do not replace a method of another object (an SDK transport, client or server): wrap it (see HookedTransport).',
        },
        {
          selector: "VariableDeclarator > MemberExpression.init[property.name='onmessage']",
          message: "Do not read a transport's onmessage to chain it: put the transport in a HookedTransport.",
        },
      ],
    },
  },
);
