// better-auth's HTTP endpoints: sign-up, sign-in, sign-out, session.
import { auth } from "@/server/auth.ts";

export const dynamic = "force-dynamic";

export function GET(req: Request): Promise<Response> {
  return auth().handler(req);
}

export function POST(req: Request): Promise<Response> {
  return auth().handler(req);
}
