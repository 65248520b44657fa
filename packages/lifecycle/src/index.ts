export * from "./wake.ts";
export * from "./sleep.ts";
export * from "./delete.ts";
export * from "./limits.ts";
export * from "./resize.ts";
<<<<<<< HEAD
export * from "./launch.ts";
=======
export * from "./quota.ts";
>>>>>>> 29932ec (accounts: sign-up policy (open, invite-only, domains; first account is the instance admin), per-org quotas enforced in packages/lifecycle under an advisory lock (create) and on resize, audit log of satellite/token/member/invitation/org changes with actor, client address and before → after; audit.list, admin.{orgs,setQuota,outbox}; hourly retention job)
