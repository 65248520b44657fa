// Earthly CLI without EARTHLY_TOKEN tries an SSH-key login: tell it tokens are the way (packages/earthly-api/src/rest.ts).
import { authChallenge } from "@satellites/earthly-api/rest";

export const dynamic = "force-dynamic";

export function GET(): Response {
  return authChallenge();
}
