// /api/health answers anyone (load balancers): when Postgres is down it says so, and nothing
// of the database's own error (its host, port, user) leaves the process.
import { describe, expect, it, vi } from "vitest";

vi.mock("@/server/services.ts", () => ({
  db: () => ({ $queryRaw: () => Promise.reject(new Error("connect ECONNREFUSED 10.20.30.40:5432 (user satellites_prod)")) }),
}));

describe("GET /api/health", () => {
  it("is 503 with the database down, without the database's error text", async () => {
    const { GET } = await import("../src/app/api/health/route.ts");
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await GET();
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ status: "unavailable", database: "down" });
    expect(text).not.toMatch(/10\.20\.30\.40|5432|satellites_prod|ECONNREFUSED/);
    // The operator still gets the reason, in the process's log.
    expect(errors.mock.calls.flat().join(" ")).toContain("ECONNREFUSED");
  });
});
