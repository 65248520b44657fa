// Random sequences of transition attempts — legal, illegal and stale — against the real
// database: the stored state only ever follows the table, and every change has exactly one
// history event.
import fc from "fast-check";
import { afterAll, expect, it } from "vitest";
import { makeOrg, testDb } from "@satellites/testing";
import { CAUSES, IllegalTransitionError, isAllowed, STATES, type State, transition, TRANSITIONS } from "../src/index.ts";

const db = testDb();
afterAll(() => db.$disconnect());

// Bias towards legal moves so sequences travel far through the table.
const step = fc.oneof(
  { weight: 3, arbitrary: fc.record({ pick: fc.nat(), stale: fc.boolean(), legal: fc.constant(true) }) },
  { weight: 1, arbitrary: fc.record({ pick: fc.nat(), stale: fc.constant(false), legal: fc.constant(false) }) },
);

it("stored state follows the table; one event per change", async () => {
  const org = await makeOrg(db, "prop");
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
      const { createSatellite } = await import("../src/create.ts");
      const { satellite: created } = await createSatellite(db, {
        orgId: org.id, name: `p-${crypto.randomUUID()}`, platform: "amd64", size: "small", provider: "local", actor: "system", limitMemoryMiB: 4096,
      });
      let current = created;
      let previous = created;
      let wins = 0;
      for (const s of steps) {
        // A stale caller attempts a move that was legal from what it last read.
        const useStale = s.stale && previous.version !== current.version;
        const from = useStale ? previous : current;
        const edges = Object.entries(TRANSITIONS[from.state]).flatMap(([to, causes]) => (causes ?? []).map((c) => [to as State, c] as const));
        if (s.legal && edges.length > 0) {
          const [to, cause] = edges[s.pick % edges.length]!;
          const r = await transition(db, { satellite: from, to, cause, actor: "system" });
          if (useStale) {
            expect(r.won).toBe(false);
          } else {
            expect(r.won).toBe(true);
            previous = current;
            current = r.satellite!;
            wins++;
          }
        } else {
          const to = STATES[s.pick % STATES.length]!;
          const cause = CAUSES[Math.floor(s.pick / STATES.length) % CAUSES.length]!;
          if (isAllowed(current.state, to, cause)) continue;
          await expect(transition(db, { satellite: current, to, cause, actor: "system" })).rejects.toBeInstanceOf(IllegalTransitionError);
        }
      }
      const stored = await db.satellite.findUniqueOrThrow({ where: { id: created.id } });
      expect(stored.state).toBe(current.state);
      expect(stored.version).toBe(wins);
      const events = await db.satelliteEvent.findMany({ where: { satelliteId: created.id }, orderBy: { id: "asc" } });
      expect(events).toHaveLength(wins + 1);
      expect(events[0]).toMatchObject({ from: null, to: "creating" });
      for (let i = 1; i < events.length; i++) {
        const e = events[i]!;
        expect(e.from).toBe(events[i - 1]!.to);
        expect(isAllowed(e.from!, e.to, e.cause)).toBe(true);
      }
      expect(events.at(-1)!.to).toBe(stored.state);
    }),
    { numRuns: 40 },
  );
});
