// Earthly CLI: `earthly account create-token NAME`, refused with a 403 that says where tokens are
// made, and `remove-token NAME`, answered that tokens are revoked in the dashboard
// (packages/earthly-api/src/rest.ts).
import { createToken, notOffered } from "@satellites/earthly-api/rest";
import { db } from "@/server/services.ts";
import { tokenApiGuard } from "@/server/token-api-guard.ts";

export const dynamic = "force-dynamic";

export const PUT = tokenApiGuard(async (req: Request) => createToken(db(), req));

export const DELETE = async (req: Request) => notOffered(req);
