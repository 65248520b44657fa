// Earthly CLI: the organization a token belongs to, by name and id (packages/earthly-api/src/rest.ts).
import { listOrganizations } from "@satellites/earthly-api/rest";
import { db } from "@/server/services.ts";
import { tokenApiGuard } from "@/server/token-api-guard.ts";

export const dynamic = "force-dynamic";

export const GET = tokenApiGuard((req: Request) => listOrganizations(db(), req));
