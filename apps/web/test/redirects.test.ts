// After sign-in, `next` may only send a person somewhere on this site. The values arrive as
// a query string, decoded, exactly as the sign-in page reads them.
import { describe, expect, it } from "vitest";
import { safeNext } from "../src/lib/safe-next.ts";

const fromQuery = (raw: string) => safeNext(new URLSearchParams(`next=${raw}`).get("next"));

describe("safeNext", () => {
  it.each([
    "/%5Cevil.example/x",
    "/%09/evil.example/x",
    "/%0a/evil.example",
    "//evil.example",
    "https://evil.example",
    "http:evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "evil.example",
    "",
    "/\\\\evil.example",
  ])("refuses %s (falls back to /)", (raw) => {
    expect(fromQuery(raw)).toBe("/");
  });

  it.each([
    ["/satellites", "/satellites"],
    ["/invitations/abc-123", "/invitations/abc-123"],
    ["/history%3Fcause%3Didle", "/history?cause=idle"],
    ["/satellites/x/../y", "/satellites/y"],
  ])("keeps same-origin path %s", (raw, expected) => {
    expect(fromQuery(raw)).toBe(expected);
  });

  it("refuses no value at all", () => {
    expect(safeNext(null)).toBe("/");
    expect(safeNext(undefined, "/satellites")).toBe("/satellites");
  });
});
