// Earthly CLI: exchanges an API token for a short-lived login token (packages/earthly-api/src/rest.ts).
import { login } from "@satellites/earthly-api/rest";
import { db } from "@/server/services.ts";
import { tokenApiGuard } from "@/server/token-api-guard.ts";

export const dynamic = "force-dynamic";

export const POST = tokenApiGuard((req: Request) => login(db(), req));
