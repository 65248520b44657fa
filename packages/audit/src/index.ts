// The audit log: who changed what, when and from where. Writers pass their transaction so the
// record commits (or not) with the change itself; the jobs process prunes old records.
import type { Db, Prisma, Tx } from "@satellites/db";

/** Every action recorded; recordAudit takes no other, so the log's filter knows each one. */
export const AUDIT_ACTIONS = [
  "satellite.create",
  "satellite.resize",
  "satellite.limits",
  "satellite.schedule",
  "satellite.cache.reset",
  "satellite.delete",
  "certificate.issue",
  "certificate.revoke",
  "token.create",
  "token.revoke",
  "member.role",
  "member.remove",
  "member.leave",
  "invitation.create",
  "invitation.cancel",
  "invitation.accept",
  "invitation.reject",
  "org.create",
  "org.update",
  "org.delete",
  "org.quota",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntry {
  orgId: string | null;
  /** "user:<id>", "token:<id>" or "system". */
  actor: string;
  /** Domain and verb, e.g. "satellite.limits", "member.role", "invitation.create". */
  action: AuditAction;
  targetType: string;
  targetId: string;
  /** What changed, e.g. { cpuPercent: { from: 95, to: 50 } }. */
  detail?: Prisma.InputJsonValue;
  /** The client address as the web app determined it; null for system changes. */
  ip: string | null;
}

export async function recordAudit(db: Db | Tx, e: AuditEntry): Promise<void> {
  await db.auditEvent.create({ data: { orgId: e.orgId, actor: e.actor, action: e.action, targetType: e.targetType, targetId: e.targetId, detail: e.detail ?? undefined, ip: e.ip } });
}

/** { key: { from, to } } for the keys whose values differ; empty when nothing changed. */
export function changes<T extends Record<string, unknown>>(before: T, after: Partial<T>): Record<string, { from: Prisma.InputJsonValue | null; to: Prisma.InputJsonValue | null }> {
  const out: Record<string, { from: Prisma.InputJsonValue | null; to: Prisma.InputJsonValue | null }> = {};
  for (const [k, to] of Object.entries(after)) {
    const from = before[k];
    if (to !== undefined && from !== to) out[k] = { from: (from ?? null) as Prisma.InputJsonValue | null, to: (to ?? null) as Prisma.InputJsonValue | null };
  }
  return out;
}

const PRUNE_BATCH = 5_000;
/** Bounds one call; the next (hourly) continues where it stopped. */
const PRUNE_MAX_BATCHES = 20;

/**
 * Deletes records older than `days`, oldest first, in batches: a retention lowered from a year
 * to a month would otherwise delete eleven months of records in one long transaction. Returns
 * how many went.
 */
export async function pruneAudit(db: Db, days: number, now = new Date()): Promise<number> {
  const before = new Date(now.getTime() - days * 86_400_000);
  let total = 0;
  for (let i = 0; i < PRUNE_MAX_BATCHES; i++) {
    const n = await db.$executeRaw`DELETE FROM audit_event WHERE id IN (
      SELECT id FROM audit_event WHERE at < ${before} ORDER BY at LIMIT ${PRUNE_BATCH})`;
    total += n;
    if (n < PRUNE_BATCH) break;
  }
  return total;
}
