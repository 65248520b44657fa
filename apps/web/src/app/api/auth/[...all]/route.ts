// better-auth's HTTP endpoints: sign-up, sign-in, sign-out, session.
import { handleAuth } from "@/server/auth-http.ts";

export const dynamic = "force-dynamic";

export { handleAuth as GET, handleAuth as POST };
