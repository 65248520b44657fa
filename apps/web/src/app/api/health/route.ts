// Liveness and readiness for the launcher and load balancers: 200 when Postgres answers.
import { db } from "@/server/services.ts";

export const dynamic = "force-dynamic";

export async function GET(): Promise<Response> {
  const started = performance.now();
  try {
    await db().$queryRaw`SELECT 1`;
    return Response.json({ status: "ok", service: "web", database: "up", ms: Math.round(performance.now() - started) });
  } catch (err) {
    return Response.json({ status: "unavailable", service: "web", database: "down", error: (err as Error).message }, { status: 503 });
  }
}
