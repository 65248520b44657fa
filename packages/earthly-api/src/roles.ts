// Roles as the tRPC API applies them (apps/web/src/server/access.ts): a token acts with its
// creator's current role in the organization; better-auth may store "admin,member".
export type Role = "member" | "admin" | "owner";
const RANK: Record<Role, number> = { member: 1, admin: 2, owner: 3 };

export function strongestRole(stored: string | null | undefined): Role | null {
  let best: Role | null = null;
  for (const r of (stored ?? "").split(",").map((s) => s.trim())) {
    if (r in RANK && (!best || RANK[r as Role] > RANK[best])) best = r as Role;
  }
  return best;
}

export function atLeast(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}
