// The API: one router per domain, mounted at /api/trpc.
import { createCallerFactory, router } from "../trpc.ts";
import { adminRouter } from "./admin.ts";
import { auditRouter } from "./audit.ts";
import { buildRouter } from "./build.ts";
import { historyRouter } from "./history.ts";
import { memberRouter } from "./member.ts";
import { orgRouter } from "./org.ts";
import { satelliteRouter } from "./satellite.ts";
import { tokenRouter } from "./token.ts";

export const appRouter = router({
  satellite: satelliteRouter,
  history: historyRouter,
  build: buildRouter,
  token: tokenRouter,
  org: orgRouter,
  member: memberRouter,
  audit: auditRouter,
  admin: adminRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
