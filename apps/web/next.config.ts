import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // The workspace packages are TypeScript sources with `.ts` import extensions; Next compiles
  // them like the app's own files instead of expecting built JavaScript.
  transpilePackages: [
    "@satellites/catalog",
    "@satellites/config",
    "@satellites/db",
    "@satellites/lifecycle",
    "@satellites/queue",
    "@satellites/state",
    "@satellites/tokens",
  ],
  // Node-only libraries with native or dynamic requires stay outside the server bundle.
  serverExternalPackages: ["pg", "ioredis", "bullmq", "@prisma/client", "@prisma/adapter-pg", "msgpackr", "msgpackr-extract"],
  poweredByHeader: false,
  reactStrictMode: true,
  // The monorepo root holds the lockfile; tell Turbopack so it does not guess.
  turbopack: { root: new URL("../..", import.meta.url).pathname },
  outputFileTracingRoot: new URL("../..", import.meta.url).pathname,
};

export default nextConfig;
