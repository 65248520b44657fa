import type { NextConfig } from "next";

// Next.js inlines its bootstrap scripts and styles, so 'unsafe-inline' stays (a nonce would
// make every page dynamic); the dev server also evaluates code. What matters most here is
// frame-ancestors (no clickjacking) and that nothing loads from elsewhere.
const dev = process.env.NODE_ENV === "development";
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  `script-src 'self' 'unsafe-inline'${dev ? " 'unsafe-eval'" : ""}`,
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  `connect-src 'self'${dev ? " ws: wss:" : ""}`,
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** On every response (pages, API, assets). HSTS is added by server.mjs when PUBLIC_URL is https. */
export const SECURITY_HEADERS = [
  { key: "Content-Security-Policy", value: CONTENT_SECURITY_POLICY },
  { key: "X-Frame-Options", value: "DENY" },
  { key: "X-Content-Type-Options", value: "nosniff" },
  { key: "Referrer-Policy", value: "strict-origin-when-cross-origin" },
  { key: "Permissions-Policy", value: "camera=(), microphone=(), geolocation=()" },
];

const nextConfig: NextConfig = {
  // The workspace packages are TypeScript sources with `.ts` import extensions; Next compiles
  // them like the app's own files instead of expecting built JavaScript.
  transpilePackages: [
    "@satellites/catalog",
    "@satellites/client-certs",
    "@satellites/pki",
    "@satellites/provider",
    "@satellites/config",
    "@satellites/db",
    "@satellites/earthly-api",
    "@satellites/lifecycle",
    "@satellites/queue",
    "@satellites/schedule",
    "@satellites/state",
    "@satellites/tokens",
  ],
  // Node-only libraries with native or dynamic requires stay outside the server bundle.
  serverExternalPackages: ["pg", "ioredis", "bullmq", "@prisma/client", "@prisma/adapter-pg", "msgpackr", "msgpackr-extract"],
  poweredByHeader: false,
  // Browsers ask for /favicon.ico whatever the page declares (e.g. when loading the declared
  // icon was cut short by a navigation): answer with the icon rather than a 404.
  async rewrites() {
    return [{ source: "/favicon.ico", destination: "/icon.svg" }];
  },
  async headers() {
    return [{ source: "/:path*", headers: SECURITY_HEADERS }];
  },
  reactStrictMode: true,
  // The monorepo root holds the lockfile; tell Turbopack so it does not guess.
  turbopack: { root: new URL("../..", import.meta.url).pathname },
  outputFileTracingRoot: new URL("../..", import.meta.url).pathname,
};

export default nextConfig;
