// Which program `npm start`'s local satellites run. An operator's choice (LOCAL_BUILDKITD,
// LOCAL_SATELLITE_COMMAND) stands; without one, real BuildKit when this machine can run it —
// a buildkitd in the peers cache or on PATH, root (its OCI worker), the OCI runtime, and the CNI
// plugins that give build steps a network of their own — and otherwise the built-in backend,
// with the reason. A team trying the product wants its satellites to build, not to answer health
// checks only. Earthly's fork comes first: it serves the Earthly CLI (moby's BuildKit lacks its
// exporter) as well as buildctl, buildx and EarthBuild.
import type { Config } from "@satellites/config";

export interface MachineFacts {
  /** What `npm run peers` built, if it did: Earthly's BuildKit fork, moby's, and the debugger every Earthly RUN step goes through. */
  peers: { earthlyBuildkitd?: string; buildkitd?: string; earthDebugger?: string };
  /** Whether a file is there (Earthly RUN steps bind-mount /usr/bin/earth_debugger from the daemon's machine). */
  exists: (file: string) => boolean;
  /** An executable's path: an absolute path as it is, a bare name looked up on PATH. */
  executable: (nameOrPath: string) => string | undefined;
  isRoot: boolean;
  /** Why BuildKit's build steps could not have a network of their own here (the CNI plugins, iptables, subnets clear of the host's routes); undefined when they can. */
  stepNetworkProblem: (config: StepNetworkConfig) => string | undefined;
}

export type StepNetworkConfig = Pick<Config, "LOCAL_CNI_BIN_DIR" | "LOCAL_BUILDKIT_SUBNETS" | "LOCAL_SATELLITE_PORTS">;

export interface DaemonChoice {
  /** Set when `npm start` picked this buildkitd itself: pass it on as LOCAL_BUILDKITD. */
  buildkitd?: string;
  /** What satellites run, in words, for the ready banner. */
  says: string;
}

/** `LOCAL_BUILDKITD=none`: the built-in backend even when a buildkitd is found. */
export const NO_BUILDKITD = "none";

export function chooseSatelliteDaemon(config: Config, rawBuildkitd: string | undefined, facts: MachineFacts): DaemonChoice {
  if (config.PROVIDER !== "local") return { says: "" };
  if (config.LOCAL_BUILDKITD) return { says: `BuildKit ${config.LOCAL_BUILDKITD} (LOCAL_BUILDKITD; OCI worker with ${config.LOCAL_RUNC})` };
  if (config.LOCAL_SATELLITE_COMMAND) return { says: `LOCAL_SATELLITE_COMMAND (${config.LOCAL_SATELLITE_COMMAND.split(" ")[0]})` };
  if (rawBuildkitd?.trim() === NO_BUILDKITD) return { says: `the built-in backend (LOCAL_BUILDKITD=${NO_BUILDKITD})` };
  const found = facts.peers.earthlyBuildkitd ?? facts.peers.buildkitd ?? facts.executable("buildkitd");
  if (!found) return { says: "the built-in backend (zero install: it answers health checks, it does not build; `npm run peers` builds a buildkitd that the next start uses)" };
  const builtIn = `the built-in backend, not the BuildKit found at ${found}`;
  if (!facts.isRoot) return { says: `${builtIn}: its OCI worker needs root (start as root, or set LOCAL_SATELLITE_COMMAND to a rootless buildkitd)` };
  const runc = facts.executable(config.LOCAL_RUNC);
  if (!runc) return { says: `${builtIn}: its OCI runtime ${config.LOCAL_RUNC} is not installed (Debian: apt-get install runc; or set LOCAL_RUNC)` };
  // Build steps on the host's network would reach this machine's Postgres and Redis: BuildKit is
  // picked unasked only when its steps can have a network of their own.
  const problem = config.LOCAL_BUILDKIT_NETWORK === "bridge" ? facts.stepNetworkProblem(config) : undefined;
  if (problem) return { says: `${builtIn}: ${problem}` };
  const which = found === facts.peers.earthlyBuildkitd ? "Earthly's BuildKit fork (for the Earthly CLI, buildctl, buildx and EarthBuild)" : "BuildKit";
  const says = `${which} ${found} (found on this machine; OCI worker with ${runc}, build steps on the ${config.LOCAL_BUILDKIT_NETWORK} network; LOCAL_BUILDKITD=${NO_BUILDKITD} runs the built-in backend instead)`;
  return { buildkitd: found, says: says + debuggerHint(found, facts) };
}

const EARTH_DEBUGGER = "/usr/bin/earth_debugger";

/** Every RUN step the Earthly CLI sends runs through /usr/bin/earth_debugger of the daemon's machine: how to put it there. */
function debuggerHint(buildkitd: string, facts: MachineFacts): string {
  if (buildkitd !== facts.peers.earthlyBuildkitd || facts.exists(EARTH_DEBUGGER)) return "";
  const source = facts.peers.earthDebugger ?? "the earthly peer's earth_debugger (npm run peers -- earthly)";
  return `; RUN steps of Earthly CLI builds also need ${EARTH_DEBUGGER}: install -m 0755 ${source} ${EARTH_DEBUGGER}`;
}
