// tRPC over HTTP: queries via GET (?input=…), mutations via POST, subscriptions as SSE.
import { handleTrpc } from "@/server/trpc-http.ts";

export const dynamic = "force-dynamic";

export { handleTrpc as GET, handleTrpc as POST };
