// Injected failures. Error faults answer the next N calls of the given actions with an EC2
// error (capacity shortage by default); instance faults change how an instance boots.
import { Ec2Error } from "./errors.ts";
import type { InstanceFaults } from "./instances.ts";

export interface ErrorFault {
  /** EC2 error code; default InsufficientInstanceCapacity. */
  code?: string;
  message?: string;
  /** HTTP status; default 500 for server-side codes (Insufficient…, InternalError, Unavailable), else 400. */
  status?: number;
  /** Actions that trip it; default RunInstances and StartInstances. */
  actions?: string[];
  /**
   * Only calls that name one of these instances (`InstanceId.N`) trip it: a fault aimed at one
   * caller's polls, which another caller's filtered listing (the reconciler's) does not use up.
   */
  instanceIds?: string[];
  /** How many calls fail; default 1. */
  count?: number;
  /**
   * Instead of an error: the call is carried out but its answer is held this long (a timeout
   * as the client sees it, after EC2 may already have acted). `code` is then ignored.
   */
  hangMs?: number;
}

const SERVER_CODES = /^(Insufficient|InternalError|Unavailable|ServiceUnavailable)/;

interface Pending {
  error: Ec2Error | { hangMs: number };
  actions: string[];
  instanceIds?: string[];
  left: number;
}

export class Faults {
  private errors: Pending[] = [];
  private readonly instances = new Map<string, InstanceFaults>();

  failNext(f: ErrorFault): void {
    const code = f.code ?? "InsufficientInstanceCapacity";
    const message =
      f.message ??
      (code === "InsufficientInstanceCapacity"
        ? "We currently do not have sufficient capacity in the Availability Zone you requested. Our system will be working on provisioning additional capacity."
        : `Injected ${code}`);
    const status = f.status ?? (SERVER_CODES.test(code) ? 500 : 400);
    const error = f.hangMs !== undefined ? { hangMs: f.hangMs } : new Ec2Error(code, message, status);
    this.errors.push({ error, actions: f.actions ?? ["RunInstances", "StartInstances"], ...(f.instanceIds && { instanceIds: f.instanceIds }), left: f.count ?? 1 });
  }

  /**
   * The error this call of `action` (naming `instanceIds`) must fail with, or how long its
   * answer is held, if an injected fault applies (consumes it).
   */
  take(action: string, instanceIds: string[] = []): Ec2Error | { hangMs: number } | undefined {
    const hit = this.errors.find((e) => e.left > 0 && e.actions.includes(action) && (!e.instanceIds || e.instanceIds.some((id) => instanceIds.includes(id))));
    if (!hit) return undefined;
    hit.left--;
    this.errors = this.errors.filter((e) => e.left > 0);
    return hit.error;
  }

  /**
   * `target` is an instance id, "next" for the next instance launched, or "*" for every instance
   * without faults of its own.
   */
  setInstance(target: string, faults: InstanceFaults | null): void {
    if (faults) this.instances.set(target, { ...faults });
    else this.instances.delete(target);
  }

  /** A new instance takes over the faults set for "next". */
  adopt(id: string): void {
    const next = this.instances.get("next");
    if (!next) return;
    this.instances.delete("next");
    this.instances.set(id, next);
  }

  forInstance(id: string): InstanceFaults {
    return this.instances.get(id) ?? this.instances.get("*") ?? {};
  }

  clear(): void {
    this.errors = [];
    this.instances.clear();
  }
}
