// A waking satellite's address, announced by the jobs worker as soon as the machine has started
// and before its health probe passes. Not a state change, and nothing routes by it: proxies
// holding calls for the wake open their connection to the satellite meanwhile, so that at
// `awake` the connection is up and the held calls go out at once. The announced `awake` still
// carries the committed address, and a connection made for another address is not used. The
// hop's mutual TLS checks the satellite's own name, so a hint cannot lead a proxy to another
// satellite.
import type { Db } from "@satellites/db";
import type { Announcements } from "@satellites/db/announcements";

export const ADDRESS_CHANNEL = "satellite_address";

export interface AddressHint {
  id: string;
  upstream: string;
}

/** Announces where a starting satellite will answer. Best effort: a lost hint only costs the head start. */
export async function announceAddress(db: Db, hint: AddressHint): Promise<void> {
  await db.$executeRaw`SELECT pg_notify(${ADDRESS_CHANNEL}, ${JSON.stringify(hint)})`;
}

/** Calls `onHint` for every address announced on `hub`, until the returned function is called; malformed payloads are ignored. */
export function followAddressHints(hub: Announcements, onHint: (hint: AddressHint) => void): () => void {
  return hub.on(ADDRESS_CHANNEL, (payload) => hear(payload, onHint));
}

function hear(payload: string, onHint: (hint: AddressHint) => void): void {
  const h = JSON.parse(payload) as Partial<AddressHint>;
  if (typeof h.id === "string" && typeof h.upstream === "string") onHint({ id: h.id, upstream: h.upstream });
}
