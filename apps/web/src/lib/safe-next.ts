// Where to go after signing in: only a path on this site. `next` arrives already decoded from
// the query string, so `/%5Cevil.example` is `/\evil.example`, which browsers read as
// `//evil.example`; parsing it with URL against our own origin, as the browser will, is the
// only check that sees what the browser sees.
const ORIGIN = "https://satellites.invalid";

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f\\]/;

/** `next` as a same-origin path (normalised), or `fallback` for anything else. */
export function safeNext(next: string | null | undefined, fallback = "/"): string {
  if (!next || !next.startsWith("/") || UNSAFE.test(next)) return fallback;
  let url: URL;
  try {
    url = new URL(next, ORIGIN);
  } catch {
    return fallback;
  }
  if (url.origin !== ORIGIN) return fallback;
  const path = url.pathname + url.search + url.hash;
  // A path that starts with `//` is a host to the browser, whatever URL made of it here.
  return path.startsWith("//") ? fallback : path;
}
