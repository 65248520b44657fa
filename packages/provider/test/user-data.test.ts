// The limits user-data: exact values per size and platform, refusal of anything that is not a
// checked number, and the script itself run by a real shell against a scratch root.
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PLATFORMS, SIZES, defaultLimits, type Limits } from "@satellites/catalog";
import { afterEach, describe, expect, it } from "vitest";
import {
  BUILDKITD_TOML_PATH,
  CNI_BIN_PATH,
  CNI_CONFLIST_PATH,
  CNI_PLUGINS,
  DEFAULT_EC2_STEP_SUBNET,
  DROP_IN_PATH,
  OOM_WATCH_PATH,
  OOM_WATCH_UNIT,
  OOM_WATCH_UNIT_PATH,
  MIME_BOUNDARY,
  DEFAULT_EC2_PIDS_MAX,
  RESUME_HOOK_PATH,
  RUNC_WRAPPER_PATH,
  SLICE_PATH,
  TLS_DIR,
  USER_DATA_MAX_BYTES,
  renderBuildkitdToml,
  renderDropIn,
  renderLimitsScript,
  renderOomWatch,
  renderSlice,
  renderUserData,
} from "../src/user-data.ts";
import { CertificateAuthority } from "@satellites/pki";
import { LIMITS_LABEL, limitsLabel } from "../src/limits-label.ts";
import { runcWrapper } from "../src/runc-wrapper.ts";

const GiB = 1024 ** 3;

/** What the script expects of the image under a scratch root: the CNI plugins, as executables. */
function fakeImage(root: string): void {
  mkdirSync(join(root, CNI_BIN_PATH), { recursive: true });
  for (const p of CNI_PLUGINS) writeFileSync(join(root, CNI_BIN_PATH, p), "#!/bin/sh\n", { mode: 0o755 });
}

/** Runs the script in a scratch root with stand-ins for systemctl and journalctl; what it did. */
function runScript(script: string, opts: { image: boolean; daemonRuns: boolean }): { status: number; console: string; systemctl: string[]; root: string } {
  const dir = mkdtempSync(join(tmpdir(), "user-data-say-"));
  try {
    const bin = join(dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "systemctl"), `#!/bin/sh\necho "$*" >> "${dir}/systemctl.log"\n[ "$1" != is-active ] || exit ${opts.daemonRuns ? 0 : 3}\n`, { mode: 0o755 });
    writeFileSync(join(bin, "journalctl"), '#!/bin/sh\nprintf "level=fatal msg=\\"failed to create worker\\"\\nno space left on device\\n"\n', { mode: 0o755 });
    const root = join(dir, "root");
    if (opts.image) fakeImage(root);
    let status = 0;
    try {
      execFileSync("sh", ["-c", script], {
        env: { ...process.env, SATELLITE_ROOT: root, SATELLITE_CONSOLE: join(dir, "console"), SATELLITE_SETTLE_SECONDS: "0", PATH: `${bin}:${process.env.PATH ?? ""}` },
        stdio: "ignore",
      });
    } catch (err) {
      status = (err as { status: number }).status;
    }
    const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), "utf8") : "");
    return { status, console: read("console"), systemctl: read("systemctl.log").trim().split("\n").filter(Boolean), root: existsSync(join(root, BUILDKITD_TOML_PATH)) ? "written" : "untouched" };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("what the script tells the console (GetConsoleOutput) when the daemon cannot serve", () => {
  const ctx = { platform: "amd64", size: "small", satellitePort: 8372 } as const;

  it("an image without the CNI plugins: nothing written, buildkitd stopped, the console names what is missing", () => {
    const r = runScript(renderLimitsScript(defaultLimits("small"), ctx), { image: false, daemonRuns: true });
    expect(r.status).toBe(1);
    expect(r.console).toBe(`satellites: build steps run on a bridge (EC2_BUILDKIT_NETWORK=bridge) but the image lacks: ${CNI_PLUGINS.join(" ")} (CNI plugins belong in ${CNI_BIN_PATH}); buildkitd stays stopped\n`);
    expect(r.systemctl).toEqual(["stop buildkitd"]);
    expect(r.root).toBe("untouched");
    // Host networking needs none of them.
    expect(runScript(renderLimitsScript(defaultLimits("small"), { ...ctx, stepNetwork: { mode: "host" } }), { image: false, daemonRuns: true })).toMatchObject({ status: 0, console: "" });
  });

  it("a daemon that is not running after its restart: the console quotes its journal", () => {
    const r = runScript(renderLimitsScript(defaultLimits("small"), ctx), { image: true, daemonRuns: false });
    expect(r.status).toBe(0);
    expect(r.console).toBe('satellites: buildkitd is not running: level=fatal msg="failed to create worker" no space left on device \n');
    expect(r.systemctl).toEqual(["daemon-reload", "restart buildkitd", `restart ${OOM_WATCH_UNIT}`, "is-active --quiet buildkitd"]);
    // A daemon that runs: the console hears nothing.
    expect(runScript(renderLimitsScript(defaultLimits("small"), ctx), { image: true, daemonRuns: true })).toMatchObject({ status: 0, console: "" });
  });
});

describe("systemd slice", () => {
  // CPUQuota is per CPU: the percentage of the whole machine times its vCPUs.
  const expected: Record<(typeof SIZES)[number], { cpu: string; mem: string }> = {
    xsmall: { cpu: "190%", mem: "1843M" },
    small: { cpu: "190%", mem: "3686M" },
    medium: { cpu: "190%", mem: "7372M" },
    large: { cpu: "380%", mem: "14745M" },
    xlarge: { cpu: "760%", mem: "29491M" },
  };
  for (const size of SIZES) {
    for (const platform of PLATFORMS) {
      it(`${size} ${platform} with default limits`, () => {
        const ctx = { size, platform, satellitePort: 8372 };
        expect(renderSlice(defaultLimits(size), ctx)).toMatch(
          new RegExp(`\\[Slice\\]\\nCPUQuota=${expected[size].cpu}\\nMemoryMax=${expected[size].mem}\\nMemorySwapMax=0M\\nTasksMax=${DEFAULT_EC2_PIDS_MAX}\\n$`),
        );
        expect(renderDropIn(defaultLimits(size), ctx)).toBe("[Service]\nSlice=satellite.slice\nOOMScoreAdjust=-500\n");
      });
    }
  }

  it("custom limits", () => {
    const limits: Limits = { cpuPercent: 50, memoryMiB: 12000, swapMiB: 2048, diskGiB: 250, oomScoreAdj: 300, idleTimeoutSeconds: 600 };
    expect(renderSlice(limits, { size: "large", platform: "arm64", satellitePort: 8372, pidsMax: 700 })).toContain("[Slice]\nCPUQuota=200%\nMemoryMax=12000M\nMemorySwapMax=2048M\nTasksMax=700\n");
    expect(renderDropIn(limits, { size: "large", platform: "arm64", satellitePort: 8372 })).toBe("[Service]\nSlice=satellite.slice\nOOMScoreAdjust=300\n");
  });
});

describe("buildkitd.toml", () => {
  it("listens on the satellite port and bounds the cache by the disk limit, in bytes", () => {
    const limits = { ...defaultLimits("medium"), diskGiB: 250 };
    const toml = renderBuildkitdToml(limits, { size: "medium", platform: "amd64", satellitePort: 9000 });
    expect(toml).toContain('[grpc]\n  address = ["tcp://0.0.0.0:9000"]\n');
    // No entitlement a build may ask for is granted (an image's own config could grant them).
    expect(toml).toMatch(/^insecure-entitlements = \[\]$/m);
    expect(toml).toContain("  gc = true\n");
    // Build steps' containers under the slice that carries the limits, not BuildKit's /buildkit,
    // through the runc wrapper that puts them back there whatever cgroup parent a client asks for.
    expect(toml).toMatch(/\[worker\.oci\]\n( {2}(#|network|cni|binary).*\n)* {2}defaultCgroupParent = "\/satellite\.slice"\n/);
    expect(toml).toMatch(new RegExp(`\\[worker\\.oci\\]\\n( {2}.*\\n)* {2}binary = "${RUNC_WRAPPER_PATH}"\\n`));
    expect(toml).not.toContain("[grpc.tls]");
    expect(toml).toContain(`  maxUsedSpace = ${250 * GiB}\n`);
    expect(toml).toContain(`  reservedSpace = ${25 * GiB}\n`);
    expect(toml).toContain('  minFreeSpace = "10%"\n');
    // The one-number form Earthly's fork reads; moby ignores it with the three above.
    expect(toml).toContain(`  gckeepstorage = ${250 * GiB}\n`);
    // Which limits the daemon runs with, as its worker's label: what a wake waits for.
    expect(toml).toContain(`  labels = { "${LIMITS_LABEL}" = "${limitsLabel(limits, "medium")}" }\n`);
    expect(limitsLabel({ ...limits, idleTimeoutSeconds: 60 }, "medium")).toBe(limitsLabel(limits, "medium"));
    // A resize with the same limits changes the CPU quota (a share of the vCPUs): another label.
    expect(limitsLabel(limits, "large")).not.toBe(limitsLabel(limits, "medium"));
    for (const changed of [{ cpuPercent: 40 }, { memoryMiB: 4000 }, { swapMiB: 512 }, { diskGiB: 251 }, { oomScoreAdj: 0 }]) {
      expect(limitsLabel({ ...limits, ...changed }, "medium")).not.toBe(limitsLabel(limits, "medium"));
    }
  });

  it("puts build steps on a bridge of their own (CNI, from a config file both BuildKits read), or on the instance's network when asked", () => {
    const limits = defaultLimits("small");
    const bridged = renderBuildkitdToml(limits, { size: "small", platform: "amd64", satellitePort: 8372 });
    expect(bridged).toContain(`  networkMode = "cni"\n  cniConfigPath = "${CNI_CONFLIST_PATH}"\n  cniBinaryPath = "${CNI_BIN_PATH}"\n`);
    const script = renderLimitsScript(limits, { size: "small", platform: "amd64", satellitePort: 8372, stepNetwork: { mode: "bridge", subnet: "192.168.200.0/24" } });
    const conflist = script.split(`put "$root${CNI_CONFLIST_PATH}" 0644 <<'SATELLITE_EOF'\n`)[1]!.split("\nSATELLITE_EOF")[0]!;
    expect(JSON.parse(conflist)).toMatchObject({
      plugins: [
        { type: "loopback" },
        { type: "bridge", bridge: "satbk0", isDefaultGateway: true, ipMasq: true, ipam: { type: "host-local", ranges: [[{ subnet: "192.168.200.0/24" }]] } },
        { type: "firewall", ingressPolicy: "same-bridge" },
      ],
    });
    expect(renderLimitsScript(limits, { size: "small", platform: "amd64", satellitePort: 8372 })).toContain(`"subnet": "${DEFAULT_EC2_STEP_SUBNET}"`);
    const host = { size: "small" as const, platform: "amd64" as const, satellitePort: 8372, stepNetwork: { mode: "host" as const } };
    expect(renderBuildkitdToml(limits, host)).toContain('  networkMode = "host"\n');
    expect(renderLimitsScript(limits, host)).not.toContain(CNI_CONFLIST_PATH);
    expect(() => renderLimitsScript(limits, { ...host, stepNetwork: { mode: "bridge", subnet: "10.10.0.0" } })).toThrow(RangeError);
  });
});

describe("refuses anything that is not a checked value", () => {
  const ctx = { size: "small", platform: "amd64", satellitePort: 8372 } as const;
  const base = defaultLimits("small");
  const bad: [string, Limits][] = [
    ["NaN CPU", { ...base, cpuPercent: Number.NaN }],
    ["fractional memory", { ...base, memoryMiB: 1000.5 }],
    ["CPU above 95 %", { ...base, cpuPercent: 100 }],
    ["memory above the size's", { ...base, memoryMiB: 4097 }],
    ["shell in a number", { ...base, oomScoreAdj: "0\nrm -rf /" as unknown as number }],
    ["infinite disk", { ...base, diskGiB: Number.POSITIVE_INFINITY }],
  ];
  for (const [what, limits] of bad) {
    it(what, () => expect(() => renderUserData(limits, ctx)).toThrow(RangeError));
  }
  it("unknown size, platform or port", () => {
    expect(() => renderUserData(base, { ...ctx, size: "huge" as "small" })).toThrow(/unknown size/);
    expect(() => renderUserData(base, { ...ctx, size: "constructor" as "small" })).toThrow(/unknown size/);
    expect(() => renderUserData(base, { ...ctx, platform: "riscv" as "amd64" })).toThrow(/unknown platform/);
    for (const pidsMax of [0, 10.5, Number.NaN, 1e12]) expect(() => renderUserData(base, { ...ctx, pidsMax })).toThrow(/process cap/);
    expect(() => renderUserData(base, { ...ctx, satellitePort: 70000 })).toThrow(/port/);
  });
});

describe("user-data document", () => {
  const ctx = { size: "xlarge", platform: "amd64", satellitePort: 8372 } as const;
  const text = renderUserData(defaultLimits("xlarge"), ctx);

  it("is a MIME multipart that makes cloud-init run the script at every start", () => {
    const lines = text.split("\n");
    expect(lines[0]).toBe(`Content-Type: multipart/mixed; boundary="${MIME_BOUNDARY}"`);
    expect(text).toContain('Content-Type: text/cloud-config; charset="us-ascii"');
    expect(text).toContain("#cloud-config\ncloud_final_modules:\n- [scripts-user, always]\n");
    expect(text).toContain('Content-Type: text/x-shellscript; charset="us-ascii"');
    expect(lines.filter((l) => l === `--${MIME_BOUNDARY}`)).toHaveLength(2);
    expect(text.endsWith(`--${MIME_BOUNDARY}--\n`)).toBe(true);
    // 7-bit ASCII, as declared, and well under EC2's 16 KB: the TLS files (about 2 KB) still fit.
    expect(/^[\x20-\x7e\n]*$/.test(text)).toBe(true);
    expect(Buffer.byteLength(text)).toBeLessThan(10 * 1024);
  });

  it("quotes every heredoc, so nothing in the files is expanded by the shell", () => {
    const script = renderLimitsScript(defaultLimits("xlarge"), ctx);
    const heredocs = [...script.matchAll(/<<(\S+)/g)].map((m) => m[1]);
    expect(heredocs).toEqual(Array(8).fill("'SATELLITE_EOF'"));
    execFileSync("sh", ["-n"], { input: script });
  });

  /** Runs the resume hook with a metadata service that fails its first `failures` requests. */
  function resume(failures: number): { status: number; extracted: string | null; console: string; started: string } {
    const script = renderLimitsScript(defaultLimits("xlarge"), ctx);
    const hook = /put "\$root\/usr\/lib\/systemd\/system-sleep\/satellite-limits" 0755 <<'SATELLITE_EOF'\n([\s\S]*?)SATELLITE_EOF/.exec(script)?.[1] ?? "";
    const dir = mkdtempSync(join(tmpdir(), "resume-hook-"));
    try {
      const bin = join(dir, "bin");
      mkdirSync(bin);
      writeFileSync(join(dir, "served"), text);
      writeFileSync(join(dir, "hook"), hook);
      writeFileSync(join(bin, "curl"), `#!/bin/sh\nn=$(($(cat "${dir}/calls" 2>/dev/null || echo 0) + 1)); echo $n > "${dir}/calls"\n[ $n -gt ${failures} ] || exit 7\ncase "$*" in *api/token*) echo tok ;; *user-data*) cat "${dir}/served" ;; esac\n`, { mode: 0o755 });
      writeFileSync(join(bin, "systemd-run"), `#!/bin/sh\necho "$*" >> "${dir}/started"\n`, { mode: 0o755 });
      let status = 0;
      try {
        execFileSync("sh", [join(dir, "hook"), "post"], {
          env: { ...process.env, SATELLITE_RUN_DIR: dir, SATELLITE_CONSOLE: join(dir, "console"), SATELLITE_RETRY_SECONDS: "0", PATH: `${bin}:${process.env.PATH ?? ""}` },
          stdio: "ignore",
        });
      } catch (err) {
        status = (err as { status: number }).status;
      }
      const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), "utf8") : "");
      return { status, extracted: existsSync(join(dir, "satellite-limits.sh")) ? read("satellite-limits.sh") : null, console: read("console"), started: read("started").replaceAll(dir, "<run>") };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("the resume hook applies exactly the script from the user-data, after the metadata service's first failures", () => {
    const script = renderLimitsScript(defaultLimits("xlarge"), ctx);
    const r = resume(3);
    expect(r.status).toBe(0);
    // The part ends with the blank line before the closing boundary.
    expect(r.extracted).toBe(`${script}\n`);
    expect(r.started).toBe("--no-block --collect --unit=satellite-limits-resume /bin/sh <run>/satellite-limits.sh\n");
    expect(r.console).toBe("");
  });

  // A hook that gave up at its first failure (the network is often not back at once) left the
  // daemon on the limits it was frozen with, silently.
  it("a resume hook that cannot read the user-data says so on the console, and the resume goes on", () => {
    const r = resume(1000);
    expect(r.status).toBe(0);
    expect(r.extracted).toBeNull();
    expect(r.started).toBe("");
    expect(r.console).toMatch(/resume: the user-data could not be read from the instance metadata service; limits saved while hibernated are not applied/);
  });

  describe("run by a real shell", () => {
    let dir = "";
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("writes the drop-in, buildkitd.toml and resume hook, and restarts buildkitd only when something changed", () => {
      dir = mkdtempSync(join(tmpdir(), "user-data-"));
      const bin = join(dir, "bin");
      execFileSync("mkdir", ["-p", bin]);
      writeFileSync(join(bin, "systemctl"), `#!/bin/sh\necho "$*" >> "${dir}/systemctl.log"\n`);
      chmodSync(join(bin, "systemctl"), 0o755);
      fakeImage(join(dir, "root"));
      const run = (limits: Limits) =>
        execFileSync("sh", ["-c", renderLimitsScript(limits, ctx)], {
          env: { ...process.env, SATELLITE_ROOT: join(dir, "root"), SATELLITE_SETTLE_SECONDS: "0", PATH: `${bin}:${process.env.PATH ?? ""}` },
        });
      // Whether the daemon runs is asked after every run; only what changes things counts here.
      const log = () => readFileSync(join(dir, "systemctl.log"), "utf8").trim().split("\n").filter((l) => l !== "is-active --quiet buildkitd");

      const limits = defaultLimits("xlarge");
      run(limits);
      expect(readFileSync(join(dir, "root", SLICE_PATH), "utf8")).toBe(renderSlice(limits, ctx));
      expect(readFileSync(join(dir, "root", DROP_IN_PATH), "utf8")).toBe(renderDropIn(limits, ctx));
      expect(readFileSync(join(dir, "root", BUILDKITD_TOML_PATH), "utf8")).toBe(renderBuildkitdToml(limits, ctx));
      expect(readFileSync(join(dir, "root", RUNC_WRAPPER_PATH), "utf8")).toBe(runcWrapper("/satellite.slice", "runc"));
      expect(statSync(join(dir, "root", RUNC_WRAPPER_PATH)).mode & 0o777).toBe(0o755);
      expect(readFileSync(join(dir, "root", RESUME_HOOK_PATH), "utf8")).toMatch(/^#!\/bin\/sh\n/);
      // The OOM watch, outside the slice, with the memory limit it reports kills at.
      expect(readFileSync(join(dir, "root", OOM_WATCH_PATH), "utf8")).toBe(renderOomWatch(limits, ctx));
      expect(renderOomWatch(limits, ctx)).toContain(`\nlimit=${limits.memoryMiB}\n`);
      expect(readFileSync(join(dir, "root", OOM_WATCH_UNIT_PATH), "utf8")).toContain(`ExecStart=/bin/sh ${OOM_WATCH_PATH}\n`);
      expect(readFileSync(join(dir, "root", OOM_WATCH_UNIT_PATH), "utf8")).not.toContain("Slice=");
      expect(log()).toEqual(["daemon-reload", "restart buildkitd", `restart ${OOM_WATCH_UNIT}`]);

      // Same limits again (a start, or a resume with nothing changed): the daemon is left alone;
      // the watch is started (a boot) or left running (a resume).
      run(limits);
      expect(log()).toEqual(["daemon-reload", "restart buildkitd", `restart ${OOM_WATCH_UNIT}`, `start ${OOM_WATCH_UNIT}`]);

      run({ ...limits, memoryMiB: 1024 });
      expect(readFileSync(join(dir, "root", SLICE_PATH), "utf8")).toContain("MemoryMax=1024M\n");
      expect(readFileSync(join(dir, "root", OOM_WATCH_PATH), "utf8")).toContain("\nlimit=1024\n");
      expect(log().slice(4)).toEqual(["daemon-reload", "restart buildkitd", `restart ${OOM_WATCH_UNIT}`]);
    });
  });

  it("delivers the satellite's TLS material (key readable by root only) and makes buildkitd require client certificates", async () => {
    const { ca } = await CertificateAuthority.create("test CA");
    const tls = await ca.issueServer("sat", { dns: ["sat-1.satellites.internal"] });
    const withTls = { ...ctx, tls };
    const toml = renderBuildkitdToml(defaultLimits("small"), withTls);
    expect(toml).toContain(`  [grpc.tls]\n    cert = "${TLS_DIR}/cert.pem"\n    key = "${TLS_DIR}/key.pem"\n    ca = "${TLS_DIR}/ca.pem"\n`);
    const dir = mkdtempSync(join(tmpdir(), "user-data-tls-"));
    try {
      const bin = join(dir, "bin");
      execFileSync("mkdir", ["-p", bin]);
      writeFileSync(join(bin, "systemctl"), "#!/bin/sh\n");
      chmodSync(join(bin, "systemctl"), 0o755);
      fakeImage(join(dir, "root"));
      execFileSync("sh", ["-c", renderLimitsScript(defaultLimits("small"), withTls)], { env: { ...process.env, SATELLITE_ROOT: join(dir, "root"), SATELLITE_SETTLE_SECONDS: "0", PATH: `${bin}:${process.env.PATH ?? ""}` } });
      expect(readFileSync(join(dir, "root", TLS_DIR, "cert.pem"), "utf8")).toBe(tls.certPem.endsWith("\n") ? tls.certPem : `${tls.certPem}\n`);
      expect(readFileSync(join(dir, "root", TLS_DIR, "ca.pem"), "utf8").trim()).toBe(ca.certPem.trim());
      expect(readFileSync(join(dir, "root", TLS_DIR, "key.pem"), "utf8").trim()).toBe(tls.keyPem.trim());
      expect(statSync(join(dir, "root", TLS_DIR, "key.pem")).mode & 0o077).toBe(0);
      expect(Buffer.byteLength(renderUserData(defaultLimits("small"), withTls))).toBeLessThan(USER_DATA_MAX_BYTES);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
