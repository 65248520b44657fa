import type { Db, Tx } from "@satellites/db";
import type { State } from "./table.ts";

/**
 * The event that most recently entered `state`: why the transition now under way began (its
 * cause, actor and detail), so the step that completes it can say the same.
 */
export function enteringEvent(db: Db | Tx, satelliteId: string, state: State) {
  return db.satelliteEvent.findFirst({ where: { satelliteId, to: state }, orderBy: { id: "desc" }, select: { from: true, cause: true, actor: true, detail: true } });
}
