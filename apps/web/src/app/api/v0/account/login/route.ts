// Earthly CLI: exchanges an API token for a short-lived login token (packages/earthly-api/src/rest.ts).
import { login } from "@satellites/earthly-api/rest";
import { db } from "@/server/services.ts";

export const dynamic = "force-dynamic";

export function POST(req: Request): Promise<Response> {
  return login(db(), req);
}
