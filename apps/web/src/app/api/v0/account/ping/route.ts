// Earthly CLI: who the token acts for (packages/earthly-api/src/rest.ts).
import { ping } from "@satellites/earthly-api/rest";
import { db } from "@/server/services.ts";

export const dynamic = "force-dynamic";

export function GET(req: Request): Promise<Response> {
  return ping(db(), req);
}
