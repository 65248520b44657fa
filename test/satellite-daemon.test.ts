// What `npm start`'s local satellites run when the operator chose nothing: real BuildKit when this
// machine can run it, otherwise the built-in backend and why — and an operator's choice stands.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseConfig } from "@satellites/config";
import { afterAll, describe, expect, it } from "vitest";
import { findExecutable } from "@satellites/provider/buildkit-network";
import { chooseSatelliteDaemon, type MachineFacts } from "../scripts/satellite-daemon.ts";

const bin = mkdtempSync(path.join(tmpdir(), "sat-daemon-"));
afterAll(() => rmSync(bin, { recursive: true, force: true }));
function tool(name: string, mode = 0o755): string {
  const file = path.join(bin, name);
  writeFileSync(file, "#!/bin/sh\n");
  chmodSync(file, mode);
  return file;
}
const buildkitd = tool("buildkitd");
const runc = tool("runc");
tool("not-executable", 0o644);

/** A machine whose PATH is `bin` only. */
const machine = (over: Partial<MachineFacts> = {}): MachineFacts => ({ peers: {}, exists: () => true, executable: (n) => findExecutable(n, bin), isRoot: true, stepNetworkProblem: () => undefined, ...over });
const choose = (env: Record<string, string>, facts: MachineFacts) => chooseSatelliteDaemon(parseConfig(env), env.LOCAL_BUILDKITD, facts);

describe("npm start's satellite daemon", () => {
  it("runs the buildkitd it finds on PATH, as root with runc present", () => {
    const c = choose({}, machine());
    expect(c.buildkitd).toBe(buildkitd);
    expect(c.says).toContain(`BuildKit ${buildkitd}`);
    expect(c.says).toContain(runc);
  });

  it("prefers the peers cache's buildkitd, Earthly's fork first (it serves the Earthly CLI too)", () => {
    expect(choose({}, machine({ peers: { buildkitd: "/cache/buildkit/bin/buildkitd" } })).buildkitd).toBe("/cache/buildkit/bin/buildkitd");
    const fork = choose({}, machine({ peers: { earthlyBuildkitd: "/cache/earthly-buildkit/bin/buildkitd", buildkitd: "/cache/buildkit/bin/buildkitd" } }));
    expect(fork.buildkitd).toBe("/cache/earthly-buildkit/bin/buildkitd");
    expect(fork.says).toContain("Earthly's BuildKit fork (for the Earthly CLI, buildctl, buildx and EarthBuild) /cache/earthly-buildkit/bin/buildkitd");
    expect(fork.says).not.toContain("earth_debugger");
  });

  it("with Earthly's fork, says how to install the debugger every Earthly RUN step needs when it is missing", () => {
    const peers = { earthlyBuildkitd: "/cache/earthly-buildkit/bin/buildkitd", earthDebugger: "/cache/earthly/bin/earth_debugger" };
    const c = choose({}, machine({ peers, exists: (f) => f !== "/usr/bin/earth_debugger" }));
    expect(c.buildkitd).toBe(peers.earthlyBuildkitd);
    expect(c.says).toContain("install -m 0755 /cache/earthly/bin/earth_debugger /usr/bin/earth_debugger");
  });

  it("keeps the built-in backend without root, and says why", () => {
    const c = choose({}, machine({ isRoot: false }));
    expect(c.buildkitd).toBeUndefined();
    expect(c.says).toMatch(/built-in backend, not the BuildKit found at .*: its OCI worker needs root/);
  });

  it("keeps the built-in backend when the OCI runtime is missing, and names it", () => {
    const c = choose({ LOCAL_RUNC: "crun" }, machine());
    expect(c.buildkitd).toBeUndefined();
    expect(c.says).toContain("its OCI runtime crun is not installed");
    expect(choose({ LOCAL_RUNC: path.join(bin, "not-executable") }, machine()).buildkitd).toBeUndefined();
    expect(choose({ LOCAL_RUNC: runc }, machine()).buildkitd).toBe(buildkitd);
  });

  it("keeps the built-in backend when build steps could not have a network of their own, unless the host's network is asked for", () => {
    const noCni = machine({ stepNetworkProblem: () => "the CNI plugins are missing (apt-get install containernetworking-plugins iptables)" });
    const c = choose({}, noCni);
    expect(c.buildkitd).toBeUndefined();
    expect(c.says).toContain("the CNI plugins are missing (apt-get install containernetworking-plugins iptables)");
    const host = choose({ LOCAL_BUILDKIT_NETWORK: "host" }, noCni);
    expect(host.buildkitd).toBe(buildkitd);
    expect(host.says).toContain("build steps on the host network");
  });

  it("keeps the built-in backend when no buildkitd is there, and says how to get one", () => {
    const c = choose({}, machine({ executable: (n) => (n === "runc" ? runc : undefined) }));
    expect(c.buildkitd).toBeUndefined();
    expect(c.says).toContain("npm run peers");
  });

  it("leaves an operator's choice alone: LOCAL_BUILDKITD, LOCAL_SATELLITE_COMMAND, none, another provider", () => {
    expect(choose({ LOCAL_BUILDKITD: "/opt/buildkitd" }, machine())).toEqual({ says: expect.stringContaining("BuildKit /opt/buildkitd (LOCAL_BUILDKITD") });
    expect(choose({ LOCAL_SATELLITE_COMMAND: "my-daemon --port {port}" }, machine())).toEqual({ says: "LOCAL_SATELLITE_COMMAND (my-daemon)" });
    expect(choose({ LOCAL_BUILDKITD: "none" }, machine())).toEqual({ says: "the built-in backend (LOCAL_BUILDKITD=none)" });
    expect(choose({ PROVIDER: "ec2", EC2_AMI_AMD64: "ami-1" }, machine())).toEqual({ says: "" });
  });
});
