// The satellite page's "Connect" card: what the Earthly CLI needs for this install (REST base,
// cloud gRPC API, org name, TLS or not), as the acceptance tests run the real CLI.
import type { Db } from "@satellites/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { earthlySnippet } from "../src/lib/earthly-snippet.ts";
import { addMember, newOrg, satelliteIn, setup, signUp, teardown, type TestUser } from "./helpers.ts";

let db: Db;
let user: TestUser;
let orgId: string;

beforeAll(async () => {
  ({ db } = setup());
  user = await signUp("connect");
  orgId = await newOrg(db, "connect");
  await addMember(db, orgId, user.id, "member");
});
afterAll(teardown);

describe("satellite connection for the Earthly CLI", () => {
  it("satellite.get gives the organization's name (EARTHLY_ORG), the REST base and the Earthly API address", async () => {
    const s = await satelliteIn(db, orgId, "asleep");
    const got = await user.caller.satellite.get({ id: s.id });
    const slug = (await db.organization.findUniqueOrThrow({ where: { id: orgId } })).slug;
    expect(got.connection).toMatchObject({ orgId, orgSlug: slug, name: s.name });
    expect(got.connection.earthly.serverAddress).toMatch(/^https?:\/\/[^/]+(\/.*[^/])?$/);
    expect(got.connection.earthly.grpcAddress).toMatch(/^[^/]+:\d+$/);
    expect(typeof got.connection.earthly.tls).toBe("boolean");
  });

  it("the snippet sets exactly the variables and config the CLI reads, plaintext or TLS", () => {
    const plain = earthlySnippet("my-sat", "acme", { serverAddress: "http://sat.example:3000", grpcAddress: "sat.example:8373", tls: false });
    expect(plain.split("\n").filter((l) => /^[A-Z_]+=/.test(l))).toEqual([
      "EARTHLY_SERVER_ADDRESS=http://sat.example:3000",
      "EARTHLY_GRPC_ADDRESS=sat.example:8373",
      "EARTHLY_GRPC_INSECURE=true",
      "EARTHLY_TOKEN=sat_…",
      "EARTHLY_ORG=acme",
    ]);
    expect(plain).toContain("earthly config global.tls_enabled false");
    expect(plain).toContain("earthly account login");
    expect(plain).toContain("earthly --sat my-sat +build");
    const tls = earthlySnippet("my-sat", "acme", { serverAddress: "https://sat.example", grpcAddress: "sat.example:8373", tls: true });
    expect(tls).not.toContain("EARTHLY_GRPC_INSECURE");
    expect(tls).not.toContain("tls_enabled");
    expect(tls).toContain("SSL_CERT_FILE");
  });
});
