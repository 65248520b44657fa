// Earthly CLI: who the token acts for (packages/earthly-api/src/rest.ts).
import { ping } from "@satellites/earthly-api/rest";
import { db } from "@/server/services.ts";
import { tokenApiGuard } from "@/server/token-api-guard.ts";

export const dynamic = "force-dynamic";

export const GET = tokenApiGuard((req: Request) => ping(db(), req));
