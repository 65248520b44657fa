// Earthly CLI: `earthly account create-token NAME` (packages/earthly-api/src/rest.ts).
import { createToken } from "@satellites/earthly-api/rest";
import { db } from "@/server/services.ts";

export const dynamic = "force-dynamic";

export async function PUT(req: Request, { params }: { params: Promise<{ name: string }> }): Promise<Response> {
  return createToken(db(), req, (await params).name);
}
