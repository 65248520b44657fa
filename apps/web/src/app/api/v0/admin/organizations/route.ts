// Earthly CLI: the organization a token belongs to, by name and id (packages/earthly-api/src/rest.ts).
import { listOrganizations } from "@satellites/earthly-api/rest";
import { db } from "@/server/services.ts";

export const dynamic = "force-dynamic";

export function GET(req: Request): Promise<Response> {
  return listOrganizations(db(), req);
}
