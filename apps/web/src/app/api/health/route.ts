// Liveness and readiness for the launcher and load balancers: 200 when Postgres answers.
import { db } from "@/server/services.ts";

export const dynamic = "force-dynamic";

export async function GET(): Promise<Response> {
  const started = performance.now();
  try {
    await db().$queryRaw`SELECT 1`;
    return Response.json({ status: "ok", service: "web", database: "up", ms: Math.round(performance.now() - started) });
  } catch (err) {
    // Anyone may ask, so the database's own error (host, port, user) goes to the log only.
    console.error(`health: the database does not answer: ${(err as Error).message}`);
    return Response.json({ status: "unavailable", service: "web", database: "down", error: "the database does not answer" }, { status: 503 });
  }
}
