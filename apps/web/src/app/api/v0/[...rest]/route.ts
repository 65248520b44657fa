// Earthly CLI: every /api/v0 path not served by a route of its own (`earthly account
// list-tokens`, `remove-token`, the SSH-key commands…) is answered in the CLI's error shape,
// saying what is offered, not with the dashboard's HTML 404 (packages/earthly-api/src/rest.ts).
import { notOffered } from "@satellites/earthly-api/rest";

export const dynamic = "force-dynamic";

const answer = async (req: Request) => {
  await req.body?.cancel().catch(() => {});
  return notOffered(req);
};

export const GET = answer;
export const POST = answer;
export const PUT = answer;
export const DELETE = answer;
export const PATCH = answer;
