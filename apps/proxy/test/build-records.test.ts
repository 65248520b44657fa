// Build records, from a real proxy process: a BuildKit Solve is recorded as a build (actor,
// client, the session open on its connection, bytes each way — its own and its session's while
// it ran —, status) — visible while it runs,
// finished with its end — and every other call is counted per minute; the records are written
// in batches, so a proxy killed with SIGKILL has written everything up to its last interval.
import http2 from "node:http2";
import protobuf from "protobufjs/minimal.js";
import { makeOrg, testDb } from "@satellites/testing";
import { fixtureSatelliteTls } from "@satellites/testing/satellite-tls";
import { afterAll, beforeAll, expect, it } from "vitest";
import { FAILURE_MESSAGE_MAX, failureMessage } from "../src/build-records.ts";
import { awakeSatellite, grpcFrame, makeToken, rawUpstream } from "./helpers.ts";
import { startProxyProcess, until } from "./processes.ts";

const db = testDb();
const INTERVAL_MS = 300;
let upstream: Awaited<ReturnType<typeof rawUpstream>>;
let auth: Record<string, string>;
let satelliteId = "";
let tokenId = "";
/** Ends the upstream side of the call with this x-call value, with this gRPC status (and message, as sent). */
const enders = new Map<string, (status: number, message?: string) => void>();
/** Sends more of a Status call's answer (with x-step-says): raw bytes, as a step's log travels in it. */
const stepOutput = new Map<string, (bytes: Buffer) => void>();

beforeAll(async () => {
  const tls = await fixtureSatelliteTls();
  // The satellite: answers each call with 1000 bytes, reads what comes, ends when the test says
  // (or at once for calls without x-call) with the status asked for.
  upstream = await rawUpstream((s) => {
    s.stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    let status = 0;
    let message: string | undefined;
    s.stream.on("wantTrailers", () => s.stream.sendTrailers({ "grpc-status": String(status), ...(message === undefined ? {} : { "grpc-message": message }) }));
    s.stream.write(grpcFrame(Buffer.alloc(995, 1)));
    s.stream.resume();
    const name = s.headers["x-call"];
    const says = s.headers["x-step-says"];
    if (typeof name === "string" && typeof says === "string") stepOutput.set(name, (text) => s.stream.write(text));
    const end = (code: number, why?: string): void => {
      status = code;
      message = why;
      s.stream.end();
    };
    if (typeof name === "string") enders.set(name, end);
    else s.stream.on("end", () => end(0));
  }, tls);
  const org = await makeOrg(db, "records");
  const t = await makeToken(db, org.id);
  tokenId = t.id;
  const sat = await awakeSatellite(db, org.id, upstream.address);
  satelliteId = sat.id;
  auth = { satellite_name: sat.name, satellite_org: org.id, satellite_token: t.token };
});

afterAll(async () => {
  await upstream?.close();
});

interface Opened {
  closed: Promise<http2.IncomingHttpHeaders | undefined>;
  req: http2.ClientHttp2Stream;
}

function call(session: http2.ClientHttp2Session, path: string, headers: Record<string, string>, body: Buffer, halfClose = true): Opened {
  const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", "user-agent": "buildctl/v0.24.0 grpc-go/1.74.2", ...auth, ...headers });
  req.on("error", () => {});
  let trailers: http2.IncomingHttpHeaders | undefined;
  req.on("trailers", (t) => (trailers = t));
  req.on("data", () => {});
  const closed = new Promise<http2.IncomingHttpHeaders | undefined>((r) => req.on("close", () => r(trailers)));
  if (halfClose) req.end(body);
  else req.write(body);
  return { closed, req };
}

const SOLVE = "/moby.buildkit.v1.Control/Solve";
const FAILED_STEP = 'process "/bin/sh -c dd if=/dev/zero of=/big" did not complete successfully: exit code: 1\nwrite /big: no space left on device — 100 %';
// gRPC's percent-encoding (bytes outside 0x20–0x7e, and '%'), plus a stray control character.
const FAILED_STEP_WIRE = `${[...Buffer.from(FAILED_STEP)].map((b) => (b < 0x20 || b > 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(b))).join("")}%07`;
/** A SolveRequest or StatusRequest (BuildKit's control.proto): `ref` is field 1, then (a Solve's) definition. */
const refRequest = (ref: string, more = Buffer.alloc(0)) => grpcFrame(Buffer.concat([protobuf.Writer.create().uint32((1 << 3) | 2).string(ref).finish(), more]));
const SESSION = "/moby.buildkit.v1.Control/Session";
const STATUS = "/moby.buildkit.v1.Control/Status";

it("a Solve is a build: seen running, then finished with duration, bytes, status (and why it failed) and its session; other calls are counted", { timeout: 180_000 }, async () => {
  const p = await startProxyProcess({ DATABASE_URL: process.env.DATABASE_URL!, QUEUE_PREFIX: "satellites-test-unused", PROXY_BUILD_RECORD_INTERVAL_MS: String(INTERVAL_MS) });
  const session = http2.connect(`http://127.0.0.1:${p.port}`);
  session.on("error", () => {});
  try {
    const sess = call(session, SESSION, { "x-call": "session", "x-docker-expose-session-uuid": "sess-abc123" }, grpcFrame(Buffer.alloc(10)), false);
    await until("session upstream", () => enders.has("session") || undefined, 5_000);
    await new Promise((r) => setTimeout(r, 300));
    const body = grpcFrame(Buffer.alloc(20_000, 7));
    const ok = call(session, SOLVE, { "x-call": "ok" }, body);
    const bad = call(session, SOLVE, { "x-call": "bad" }, grpcFrame(Buffer.alloc(5)));
    await until("builds upstream", () => (enders.has("ok") && enders.has("bad")) || undefined, 5_000);
    // The context upload travels in the session's stream while the builds run: theirs too.
    sess.req.write(Buffer.alloc(5_000, 1));

    // Running: written within an interval or two, no end yet, bytes so far.
    const running = await until("running builds recorded", async () => {
      const rows = await db.build.findMany({ where: { satelliteId } });
      return rows.length === 2 && rows.every((r) => r.bytesUp > 5_000n) ? rows : undefined;
    }, 10_000);
    for (const r of running) {
      expect(r.endedAt).toBeNull();
      expect(r.grpcCode).toBeNull();
      expect(r.sessionId).toBe("sess-abc123");
      expect(r.actor).toBe(`token:${tokenId}`);
      expect(r.client).toBe("buildctl 0.24.0");
    }
    // A running build's row says its replica still forwards it.
    const seen = running[0]!.seenAt.getTime();
    await until("seenAt refreshed", async () => ((await db.build.findUnique({ where: { id: running[0]!.id } }))!.seenAt.getTime() > seen ? true : undefined), 5_000);

    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 200));
    enders.get("ok")!(0);
    // BuildKit's words for a step that filled the disk, percent-encoded as gRPC sends them.
    enders.get("bad")!(2, FAILED_STEP_WIRE);
    expect((await ok.closed)?.["grpc-status"]).toBe("0");
    expect((await bad.closed)?.["grpc-status"]).toBe("2");
    const done = await until("finished builds recorded", async () => {
      const rows = await db.build.findMany({ where: { satelliteId }, orderBy: { bytesUp: "desc" } });
      return rows.every((r) => r.endedAt !== null) ? rows : undefined;
    }, 10_000);
    const [okRow, badRow] = done;
    expect(okRow!.grpcCode).toBe(0);
    expect(Number(okRow!.bytesUp)).toBe(body.length + 5_000);
    expect(Number(okRow!.bytesDown)).toBe(1000);
    expect(Number(badRow!.bytesUp)).toBe(10 + 5_000);
    expect(okRow!.durationMs).toBeGreaterThanOrEqual(Date.now() - t0 > 200 ? 200 : 0);
    expect(okRow!.endedAt!.getTime() - okRow!.startedAt.getTime()).toBe(okRow!.durationMs);
    expect(badRow!.grpcCode).toBe(2);
    // Why it failed, as its client read it: decoded, control characters gone, newlines kept.
    expect(badRow!.error).toBe(FAILED_STEP);
    expect(okRow!.error).toBeNull();

    // Other calls: 5 health checks and the session, counted per minute, method, actor and client.
    const health = [];
    for (let i = 0; i < 5; i++) health.push(call(session, "/grpc.health.v1.Health/Check", {}, grpcFrame(Buffer.alloc(0))).closed);
    await Promise.all(health);
    sess.req.end();
    enders.get("session")!(0);
    await sess.closed;
    const stats = await until("calls counted", async () => {
      const rows = await db.callStat.findMany({ where: { satelliteId } });
      const h = rows.find((r) => r.method === "/grpc.health.v1.Health/Check");
      return h && h.calls === 5 && rows.some((r) => r.method === SESSION) ? rows : undefined;
    }, 10_000);
    const h = stats.find((r) => r.method === "/grpc.health.v1.Health/Check")!;
    expect(h).toMatchObject({ calls: 5, failed: 0, actor: `token:${tokenId}`, client: "buildctl 0.24.0", bytesDown: 5000n });
    expect(stats.some((r) => r.method === SOLVE)).toBe(false);
  } finally {
    session.destroy();
    await p.stop();
    await db.build.deleteMany({ where: { satelliteId } });
    await db.callStat.deleteMany({ where: { satelliteId } });
  }
});

it("a failure's message is kept as the client read it, and always storable: cut by whole characters, no NUL, bad encoding kept as sent", async () => {
  const long = `${"a".repeat(FAILURE_MESSAGE_MAX - 1)}${"😀".repeat(10)}`;
  const kept = failureMessage(encodeURIComponent(long))!;
  expect(Array.from(kept)).toHaveLength(FAILURE_MESSAGE_MAX);
  expect(kept.endsWith("a😀")).toBe(true);
  expect(failureMessage("bad%ZZencoding%00")).toBe("bad%ZZencoding%00");
  expect(failureMessage("nul%00here%0Aline two%09tab")).toBe("nulhere\nline two\ttab");
  expect(failureMessage("%20%07%20")).toBeUndefined();
  // What Postgres takes: the row's jsonb batch would refuse a lone surrogate or a NUL.
  const [row] = await db.$queryRaw<{ v: string }[]>`SELECT (${JSON.stringify({ v: kept })}::jsonb)->>'v' AS v`;
  expect(row!.v).toBe(kept);
});

it("SIGKILL: every record written up to the last batch interval survives the proxy", { timeout: 180_000 }, async () => {
  const p = await startProxyProcess({ DATABASE_URL: process.env.DATABASE_URL!, QUEUE_PREFIX: "satellites-test-unused", PROXY_BUILD_RECORD_INTERVAL_MS: String(INTERVAL_MS) });
  const session = http2.connect(`http://127.0.0.1:${p.port}`);
  session.on("error", () => {});
  try {
    const builds = [];
    for (let i = 0; i < 10; i++) {
      const c = call(session, SOLVE, { "x-call": `b${i}` }, grpcFrame(Buffer.alloc(100)));
      await until(`b${i} upstream`, () => enders.has(`b${i}`) || undefined, 5_000);
      enders.get(`b${i}`)!(0);
      builds.push(c.closed);
    }
    await Promise.all(builds);
    call(session, SOLVE, { "x-call": "long" }, grpcFrame(Buffer.alloc(100)), false);
    await until("long build upstream", () => enders.has("long") || undefined, 5_000);
    // Two intervals after the last call ended, then killed with no chance to flush.
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS + 100));
    p.proc.kill("SIGKILL");
    await p.stop();
    const rows = await db.build.findMany({ where: { satelliteId } });
    expect(rows.filter((r) => r.endedAt !== null && r.grpcCode === 0)).toHaveLength(10);
    // The build cut by the crash stays without an end: its replica no longer refreshes seenAt.
    const cut = rows.filter((r) => r.endedAt === null);
    expect(cut).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS));
    expect((await db.build.findUnique({ where: { id: cut[0]!.id } }))!.seenAt).toEqual(cut[0]!.seenAt);
  } finally {
    session.destroy();
    await p.stop();
    await db.build.deleteMany({ where: { satelliteId } });
    await db.callStat.deleteMany({ where: { satelliteId } });
  }
});

it("a session opened just after its Solve (buildctl opens both at once): everything it carries is the build's", { timeout: 180_000 }, async () => {
  const p = await startProxyProcess({ DATABASE_URL: process.env.DATABASE_URL!, QUEUE_PREFIX: "satellites-test-unused", PROXY_BUILD_RECORD_INTERVAL_MS: String(INTERVAL_MS) });
  const session = http2.connect(`http://127.0.0.1:${p.port}`);
  session.on("error", () => {});
  try {
    const solve = call(session, SOLVE, { "x-call": "late-solve" }, grpcFrame(Buffer.alloc(100)));
    await until("solve upstream", () => enders.has("late-solve") || undefined, 5_000);
    const sess = call(session, SESSION, { "x-call": "late-session", "x-docker-expose-session-uuid": "sess-late" }, grpcFrame(Buffer.alloc(10)), false);
    await until("session upstream", () => enders.has("late-session") || undefined, 5_000);
    // The context goes up at once, before the recorder's next look at the build.
    sess.req.write(Buffer.alloc(200_000, 1));
    await new Promise((r) => setTimeout(r, 3 * INTERVAL_MS));
    enders.get("late-solve")!(0);
    await solve.closed;
    const row = await until("finished build recorded", async () => {
      const r = await db.build.findFirst({ where: { satelliteId, endedAt: { not: null } } });
      return r ?? undefined;
    }, 10_000);
    expect(row.sessionId).toBe("sess-late");
    expect(Number(row.bytesUp)).toBe(grpcFrame(Buffer.alloc(100)).length + grpcFrame(Buffer.alloc(10)).length + 200_000);
    sess.req.end();
    enders.get("late-session")!(0);
    await sess.closed;
  } finally {
    session.destroy();
    await p.stop();
    await db.build.deleteMany({ where: { satelliteId } });
    await db.callStat.deleteMany({ where: { satelliteId } });
  }
});

it("a RUN step that ran out of disk: its output on the connection's Status stream marks the failed build, and no other", { timeout: 180_000 }, async () => {
  const p = await startProxyProcess({ DATABASE_URL: process.env.DATABASE_URL!, QUEUE_PREFIX: "satellites-test-unused", PROXY_BUILD_RECORD_INTERVAL_MS: String(INTERVAL_MS) });
  const first = http2.connect(`http://127.0.0.1:${p.port}`);
  const other = http2.connect(`http://127.0.0.1:${p.port}`);
  for (const s of [first, other]) s.on("error", () => {});
  const started = async (session: http2.ClientHttp2Session, name: string, path = SOLVE, headers: Record<string, string> = {}): Promise<Opened> => {
    const c = call(session, path, { "x-call": name, ...headers }, grpcFrame(Buffer.alloc(100)));
    await until(`${name} upstream`, () => enders.has(name) || undefined, 5_000);
    return c;
  };
  const rowOf = (name: string) => until(`${name} recorded`, async () => (await db.build.findFirst({ where: { satelliteId, endedAt: { not: null }, error: name } })) ?? undefined, 10_000);
  try {
    // Three builds open: the one whose step fails, a concurrent one on another connection, and
    // one on the same connection that succeeds.
    const failing = await started(first, "runs-out");
    const elsewhere = await started(other, "elsewhere");
    const fine = await started(first, "fine");
    // BuildKit streams the step's output (its stderr) in Status answers; the words arrive split
    // across two DATA frames, as a log can.
    const status = await started(first, "status", STATUS, { "x-step-says": "yes" });
    const log = grpcFrame(Buffer.from("dd: error writing '/fill': No space left on device\n"));
    const cut = log.indexOf("No space le") + "No space le".length;
    stepOutput.get("status")!(log.subarray(0, cut));
    await new Promise((r) => setTimeout(r, 50));
    stepOutput.get("status")!(log.subarray(cut));
    await new Promise((r) => setTimeout(r, 100));
    // A build begun on the same connection after those words is not theirs.
    const later = await started(first, "later");
    enders.get("runs-out")!(2, "runs-out");
    enders.get("elsewhere")!(2, "elsewhere");
    enders.get("fine")!(0);
    enders.get("later")!(2, "later");
    enders.get("status")!(0);
    await Promise.all([failing.closed, elsewhere.closed, fine.closed, later.closed, status.closed]);
    expect((await rowOf("runs-out")).stepOutOfSpace).toBe(true);
    expect((await rowOf("elsewhere")).stepOutOfSpace).toBe(false);
    expect((await rowOf("later")).stepOutOfSpace).toBe(false);
    const ok = await until("the successful build recorded", async () => (await db.build.findFirst({ where: { satelliteId, endedAt: { not: null }, grpcCode: 0 } })) ?? undefined, 10_000);
    expect(ok.stepOutOfSpace).toBe(false);
  } finally {
    first.destroy();
    other.destroy();
    await p.stop();
    await db.build.deleteMany({ where: { satelliteId } });
    await db.callStat.deleteMany({ where: { satelliteId } });
  }
});

it("builds run together on one connection (buildx bake): a step's full disk marks its own build, by the ref its Status call names, and not the others that fail", { timeout: 180_000 }, async () => {
  const p = await startProxyProcess({ DATABASE_URL: process.env.DATABASE_URL!, QUEUE_PREFIX: "satellites-test-unused", PROXY_BUILD_RECORD_INTERVAL_MS: String(INTERVAL_MS) });
  const session = http2.connect(`http://127.0.0.1:${p.port}`);
  session.on("error", () => {});
  const started = async (name: string, path: string, body: Buffer, headers: Record<string, string> = {}): Promise<Opened> => {
    const c = call(session, path, { "x-call": name, ...headers }, body);
    await until(`${name} upstream`, () => enders.has(name) || undefined, 5_000);
    return c;
  };
  const rowOf = (name: string) => until(`${name} recorded`, async () => (await db.build.findFirst({ where: { satelliteId, endedAt: { not: null }, error: name } })) ?? undefined, 10_000);
  try {
    // Two targets' Solves (a definition after the ref), each followed by its Status call with
    // the same ref.
    const definition = Buffer.concat([Buffer.from([(2 << 3) | 2, 3]), Buffer.from("def")]);
    const fills = await started("bake-fills", SOLVE, refRequest("k0qnvd2yl5fr1tsm3wbx0a9ez", definition));
    const fails = await started("bake-fails", SOLVE, refRequest("t4h8c1aj6uy0ye2lm7g9w3nqx", definition));
    const statusFills = await started("status-fills", STATUS, refRequest("k0qnvd2yl5fr1tsm3wbx0a9ez"), { "x-step-says": "yes" });
    const statusFails = await started("status-fails", STATUS, refRequest("t4h8c1aj6uy0ye2lm7g9w3nqx"), { "x-step-says": "yes" });
    stepOutput.get("status-fills")!(grpcFrame(Buffer.from("dd: error writing '/fill': No space left on device\n")));
    stepOutput.get("status-fails")!(grpcFrame(Buffer.from("exit 9\n")));
    await new Promise((r) => setTimeout(r, 100));
    enders.get("bake-fills")!(2, "bake-fills");
    enders.get("bake-fails")!(2, "bake-fails");
    enders.get("status-fills")!(0);
    enders.get("status-fails")!(0);
    await Promise.all([fills.closed, fails.closed, statusFills.closed, statusFails.closed]);
    expect((await rowOf("bake-fills")).stepOutOfSpace).toBe(true);
    expect((await rowOf("bake-fails")).stepOutOfSpace).toBe(false);
  } finally {
    session.destroy();
    await p.stop();
    await db.build.deleteMany({ where: { satelliteId } });
    await db.callStat.deleteMany({ where: { satelliteId } });
  }
});

// Records are written in batches, and a batch that fails is kept for the next flush: one value the
// database cannot hold held back every tenant's records on that proxy for good. Any token holder
// could send one (a method name past the 2,704 bytes a btree index entry holds), and a satellite
// another (a grpc-status beyond int).
it("a method name or status the database cannot hold is recorded as such, and everyone's records after it still are", { timeout: 180_000 }, async () => {
  const p = await startProxyProcess({ DATABASE_URL: process.env.DATABASE_URL!, QUEUE_PREFIX: "satellites-test-unused", PROXY_BUILD_RECORD_INTERVAL_MS: String(INTERVAL_MS) });
  const session = http2.connect(`http://127.0.0.1:${p.port}`);
  session.on("error", () => {});
  try {
    const long = `/${"x".repeat(3000)}.Service/Method`;
    const odd = call(session, long, {}, grpcFrame(Buffer.alloc(0)));
    await odd.closed;
    const solve = call(session, SOLVE, { "x-call": "huge-status" }, grpcFrame(Buffer.alloc(5)));
    await until("build upstream", () => enders.has("huge-status") || undefined, 5_000);
    enders.get("huge-status")!(3_000_000_000);
    await solve.closed;
    const after = call(session, "/moby.buildkit.v1.Control/ListWorkers", {}, grpcFrame(Buffer.alloc(0)));
    await after.closed;
    const rows = await until("calls counted after them", async () => {
      const r = await db.callStat.findMany({ where: { satelliteId } });
      return r.some((x) => x.method === "/moby.buildkit.v1.Control/ListWorkers") ? r : undefined;
    }, 10_000);
    expect(rows.map((r) => r.method).sort()).toEqual(["(other)", "/moby.buildkit.v1.Control/ListWorkers"]);
    const build = await until("the build", () => db.build.findFirst({ where: { satelliteId, endedAt: { not: null } } }).then((b) => b ?? undefined), 10_000);
    expect(build.grpcCode).toBe(2); // UNKNOWN: what gRPC makes of a status it does not know
  } finally {
    session.destroy();
    await p.stop();
    await db.build.deleteMany({ where: { satelliteId } });
    await db.callStat.deleteMany({ where: { satelliteId } });
  }
});
