// One satellite as `satellite.get` answers it: what the detail page's cards are given.
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "@/server/routers/index.ts";

export type SatelliteData = inferRouterOutputs<AppRouter>["satellite"]["get"];
