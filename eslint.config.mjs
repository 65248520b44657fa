// One lint config for the monorepo. Beyond typescript-eslint's recommended rules it keeps the
// dependency direction: apps → packages, never packages → apps, never app → app.
import js from "@eslint/js";
import globals from "globals";
import reactHooks from "eslint-plugin-react-hooks";
import tseslint from "typescript-eslint";

const appImports = (except) =>
  ["web", "proxy", "jobs"]
    .filter((a) => a !== except)
    .flatMap((a) => [`@satellites/${a}`, `@satellites/${a}/*`, `**/apps/${a}/**`]);

export default tseslint.config(
  {
    ignores: ["**/node_modules/**", "**/.next/**", "**/dist/**", "packages/db/src/generated/**", "**/next-env.d.ts", ".data/**", "e2e/artifacts/**", "bench/results/**"],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
    },
  },
  {
    files: ["apps/web/**/*.tsx"],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { "react-hooks": reactHooks },
    rules: { ...reactHooks.configs.recommended.rules },
  },
  { files: ["packages/**"], rules: { "no-restricted-imports": ["error", { patterns: appImports(null) }] } },
  ...["web", "proxy", "jobs"].map((app) => ({
    files: [`apps/${app}/**`],
    rules: { "no-restricted-imports": ["error", { patterns: appImports(app) }] },
  })),
);
