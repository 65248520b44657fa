// A satellite's row locked until the transaction ends. Limits are checked against the size and a
// resize fits the memory limit to the new one: a limits save and a resize each read the row under
// this lock, so each sees what the other wrote (without it, a save checked against the old size
// landed over a shrink, and a resize put back the memory limit a save had just replaced).
import type { Satellite, Tx } from "@satellites/db";

export async function lockSatellite(tx: Tx, id: string): Promise<Satellite | null> {
  await tx.$executeRaw`SELECT 1 FROM satellite WHERE id = ${id} FOR UPDATE`;
  return tx.satellite.findUnique({ where: { id } });
}
