// Earthly CLI: `earthly account create-token NAME`, refused with a 403 that says where tokens are
// made (packages/earthly-api/src/rest.ts).
import { createToken } from "@satellites/earthly-api/rest";
import { db } from "@/server/services.ts";
import { tokenApiGuard } from "@/server/token-api-guard.ts";

export const dynamic = "force-dynamic";

export const PUT = tokenApiGuard(async (req: Request) => createToken(db(), req));
