// Billing, log sharing and analytics: the CLI calls them around every build, and none may slow
// or fail one. Billing answers a plan without limits; log sharing reads what a known caller sends
// and acknowledges its end (we keep no logs); analytics are accepted and dropped.
import type { sendUnaryData, ServerDuplexStream, ServerUnaryCall } from "@grpc/grpc-js";
import type { ApiContext } from "./context.ts";
import { toServiceError } from "./errors.ts";

/** api.public.billing.BillingPlan: every size and platform we offer, no quotas (0 = no limit). */
const UNLIMITED_PLAN = {
  type: 0,
  max_satellites: 0,
  max_build_minutes: 0,
  max_minutes_per_build: 0,
  allowed_instances: [1, 2, 3, 4, 5],
  allowed_archs: [1, 2],
  tier: 1,
  tier_description: "self-hosted",
  default_instance_type: 3,
};

export const billingHandlers = {
  GetBillingPlan(_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) {
    callback(null, { plan: UNLIMITED_PLAN });
  },
};

export const analyticsHandlers = {
  SendAnalytics(_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) {
    callback(null, {});
  },
};

/**
 * api.public.logstream.LogStream: the CLI ships a build's log while it runs (with its login, as
 * every cloud call). A caller we know, or UNAUTHENTICATED at once: an anonymous stream would be
 * held for as long as its sender liked. Revoking the token ends it, as it ends the status streams.
 */
export function logStreamHandlers(ctx: Pick<ApiContext, "callers" | "streams">) {
  return {
    StreamLogs(call: ServerDuplexStream<{ eof: boolean }, { eof_ack: boolean }>) {
      let leave = () => {};
      call.on("close", () => leave());
      ctx.callers.require(call, "member", "share build logs").then(
        (caller) => {
          if (call.cancelled || call.destroyed) return;
          leave = ctx.streams.add(caller, (err) => call.emit("error", err));
          call.on("data", (req: { eof: boolean }) => {
            if (req.eof) {
              call.write({ eof_ack: true });
              call.end();
            }
          });
          call.on("end", () => call.end());
        },
        (err: unknown) => {
          if (!call.cancelled) call.emit("error", toServiceError(err));
        },
      );
    },
  };
}
