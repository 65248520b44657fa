// Revocation ends Earthly API streams, including one whose caller was identified just before
// the announcement and that registers just after it (it waited on the database meanwhile).
import { describe, expect, it } from "vitest";
import type { Caller } from "../src/caller.ts";
import type { EarthlyApiError } from "../src/errors.ts";
import { OpenStreams } from "../src/open-streams.ts";

const caller = (tokenId: string): Caller => ({ tokenId, orgId: "org", userId: "u", role: "member", actor: `token:${tokenId}`, expiresAt: null });

describe("OpenStreams", () => {
  it("ends a revoked token's open streams, and one it registers afterwards, not another token's", async () => {
    const streams = new OpenStreams();
    const ended: string[] = [];
    const end = (name: string) => (err: EarthlyApiError) => ended.push(`${name}: ${err.message}`);
    streams.add(caller("a"), end("open"));
    streams.add(caller("b"), end("other"));
    expect(streams.endToken("a")).toBe(1);
    const leave = streams.add(caller("a"), end("late"));
    await Promise.resolve();
    expect(ended).toEqual([expect.stringMatching(/^open: .*revoked/), expect.stringMatching(/^late: .*revoked/)]);
    leave();
    expect(streams.tokenIds()).toEqual(["b"]);
  });
});
