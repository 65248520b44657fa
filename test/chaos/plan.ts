// The seeded plan of a chaos run: the intents (what users do) and the faults (what goes
// wrong), drawn by fast-check from one seed, so `--seed N` replays the same sequence.
import fc from "fast-check";

export type IntentKind = "create" | "limits" | "resize" | "call" | "stream" | "sleep" | "idle" | "delete" | "wake";
export type FaultKind = "killProxy" | "killJobs" | "redis" | "postgres" | "ec2";
export const EC2_FAULTS = ["RequestLimitExceeded", "InsufficientInstanceCapacity", "IncorrectInstanceState", "timeout"] as const;
export type Ec2FaultKind = (typeof EC2_FAULTS)[number];

export interface Intent {
  kind: IntentKind;
  /** Picks the satellite (modulo the live ones at the time). */
  target: number;
  /** Pause before this intent. */
  gapMs: number;
  /** Free choice for the intent (a size, a limit, a stream's length…). */
  arg: number;
  force: boolean;
}

export interface Fault {
  /** Fires before this intent. */
  atIntent: number;
  kind: FaultKind;
  /** Which of the two proxies or workers. */
  which: number;
  /** How long a killed process stays down. */
  downMs: number;
  ec2: Ec2FaultKind;
  /** Calls an EC2 fault affects. */
  count: number;
}

export interface Plan {
  seed: number;
  intents: Intent[];
  faults: Fault[];
}

const intentArb: fc.Arbitrary<Intent> = fc.record({
  kind: fc.oneof(
    { arbitrary: fc.constant<IntentKind>("create"), weight: 10 },
    { arbitrary: fc.constant<IntentKind>("limits"), weight: 14 },
    { arbitrary: fc.constant<IntentKind>("resize"), weight: 7 },
    { arbitrary: fc.constant<IntentKind>("call"), weight: 26 },
    { arbitrary: fc.constant<IntentKind>("stream"), weight: 14 },
    { arbitrary: fc.constant<IntentKind>("sleep"), weight: 10 },
    { arbitrary: fc.constant<IntentKind>("idle"), weight: 6 },
    { arbitrary: fc.constant<IntentKind>("delete"), weight: 6 },
    { arbitrary: fc.constant<IntentKind>("wake"), weight: 7 },
  ),
  target: fc.nat({ max: 10_000 }),
  gapMs: fc.integer({ min: 50, max: 700 }),
  arg: fc.nat({ max: 1_000_000 }),
  force: fc.boolean(),
});

const faultKindArb = fc.oneof(
  { arbitrary: fc.constant<FaultKind>("killProxy"), weight: 4 },
  { arbitrary: fc.constant<FaultKind>("killJobs"), weight: 4 },
  { arbitrary: fc.constant<FaultKind>("redis"), weight: 1 },
  { arbitrary: fc.constant<FaultKind>("postgres"), weight: 1 },
  { arbitrary: fc.constant<FaultKind>("ec2"), weight: 8 },
);

export function makePlan(seed: number, intents: number): Plan {
  // About one fault per 8 intents; at least one of each kind, so every run covers all of them.
  const faults = Math.max(5, Math.round(intents / 8));
  const arb = fc.record({
    intents: fc.array(intentArb, { minLength: intents, maxLength: intents }),
    faults: fc.array(
      fc.record({
        atIntent: fc.integer({ min: 1, max: Math.max(1, intents - 1) }),
        kind: faultKindArb,
        which: fc.nat({ max: 1 }),
        downMs: fc.integer({ min: 200, max: 4_000 }),
        ec2: fc.constantFrom(...EC2_FAULTS),
        count: fc.integer({ min: 1, max: 3 }),
      }),
      { minLength: faults, maxLength: faults },
    ),
  });
  const [drawn] = fc.sample(arb, { seed, numRuns: 1 });
  const kinds: FaultKind[] = ["killProxy", "killJobs", "redis", "postgres", "ec2"];
  drawn!.faults.slice(0, kinds.length).forEach((f, i) => (f.kind = kinds[i]!));
  drawn!.faults.sort((a, b) => a.atIntent - b.atIntent);
  return { seed, ...drawn! };
}
