import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/index.ts";
import { installationRoot } from "../src/installation-root.ts";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(fileURLToPath(new URL("../../..", import.meta.url)));

describe("configuration", () => {
  it("resolves relative paths against the installation's root, from whichever directory a process starts in (the web app runs from apps/web)", () => {
    const cwd = process.cwd();
    const seen: string[][] = [];
    try {
      for (const dir of [repoRoot, path.join(repoRoot, "apps/web"), path.join(repoRoot, "packages/config/src")]) {
        process.chdir(dir);
        const c = parseConfig({ CLIENT_CA_DIR: "custom/client-ca", PROXY_TLS_CERT: "/etc/tls/cert.pem", PROXY_TLS_KEY: "tls/key.pem" });
        seen.push([c.SATELLITE_CA_DIR, c.CLIENT_CA_DIR, c.LOCAL_DATA_DIR, c.PROXY_TLS_CERT!, c.PROXY_TLS_KEY!]);
      }
    } finally {
      process.chdir(cwd);
    }
    expect(installationRoot(path.join(repoRoot, "apps/web"))).toBe(repoRoot);
    expect(seen[0]).toEqual([path.join(repoRoot, ".data/ca"), path.join(repoRoot, "custom/client-ca"), path.join(repoRoot, ".data/local"), "/etc/tls/cert.pem", path.join(repoRoot, "tls/key.pem")]);
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[2]).toEqual(seen[0]);
  });

  it("defaults to the embedded local run", () => {
    const c = parseConfig({});
    expect(c).toMatchObject({ PROVIDER: "local", WEB_PORT: 3000, PROXY_PORT: 8372, IDLE_TIMEOUT_DEFAULT_SECONDS: 1800 });
    expect(c.DATABASE_URL).toMatch(/^postgresql:\/\/.*127\.0\.0\.1:5432\//);
    expect(c).toMatchObject({ LOCAL_SATELLITE_PORTS: [21000, 22999], LOCAL_RUNC: "runc", DATABASE_POOL_MIN: 2 });
    expect(parseConfig({ LOCAL_SATELLITE_PORTS: "30000-30099" }).LOCAL_SATELLITE_PORTS).toEqual([30000, 30099]);
  });

  it.each([
    [{ PROVIDER: "aws" }, 'PROVIDER must be one of local, ec2 (got "aws")'],
    [{ DATABASE_URL: "mysql://db/x" }, "DATABASE_URL must be a URL starting with postgres:// or postgresql://"],
    [{ DATABASE_URL: "not a url" }, "DATABASE_URL must be a URL"],
    [{ WEB_PORT: "http" }, 'WEB_PORT must be a number (got "http")'],
    [{ PROXY_PORT: "70000" }, "PROXY_PORT must be <=65535"],
    [{ DATABASE_POOL_MIN: "11" }, "DATABASE_POOL_MIN must be <=10"],
    [{ NODE_ENV: "production" }, "AUTH_SECRET is required when NODE_ENV=production"],
    [{ AUTH_SECRET: "short" }, "AUTH_SECRET must be at least 32 characters"],
    [{ PROXY_TLS_CERT: "/tmp/c.pem" }, "PROXY_TLS_CERT and PROXY_TLS_KEY must be set together"],
    [{ PROVIDER: "ec2" }, "PROVIDER=ec2 needs EC2_AMI_AMD64"],
    [{ LOCAL_SATELLITE_PORTS: "22000" }, 'LOCAL_SATELLITE_PORTS must be a range like 21000-22999 (got "22000")'],
    [{ LOCAL_SATELLITE_PORTS: "23000-22000" }, "LOCAL_SATELLITE_PORTS must be low-high within 1024-65535 with low <= high"],
    [{ LOCAL_BUILDKIT_SUBNETS: "10.0.0.0" }, 'LOCAL_BUILDKIT_SUBNETS must be an IPv4 network with a prefix of 8 to 24, like 10.0.0.0/8 (got "10.0.0.0")'],
    [{ LOCAL_BUILDKIT_SUBNETS: "10.0.0.0/28" }, "LOCAL_BUILDKIT_SUBNETS must be an IPv4 network with a prefix of 8 to 24"],
    [{ LOCAL_BUILDKIT_SUBNETS: "fd00::/8" }, "LOCAL_BUILDKIT_SUBNETS must be an IPv4 network with a prefix of 8 to 24"],
    [{ EC2_BUILDKIT_SUBNET: "10.10.0.0/28" }, 'EC2_BUILDKIT_SUBNET must be an IPv4 network with a prefix of 16 to 24, like 10.10.0.0/24 (got "10.10.0.0/28")'],
    [{ LOCAL_BUILDKIT_SUBNETS: "172.30.0.0/16" }, 'LOCAL_BUILDKIT_SUBNETS holds 256 subnets of /24, one per satellite port, but LOCAL_SATELLITE_PORTS has 2000 ports: widen the range or narrow the ports (got "172.30.0.0/16")'],
    [{ SATELLITE_CA_KEY_FILE: "/tmp/k.pem" }, "SATELLITE_CA_CERT_FILE and SATELLITE_CA_KEY_FILE must be set together"],
    [{ LOCAL_BUILDKITD: "/usr/bin/buildkitd", LOCAL_SATELLITE_COMMAND: "x" }, "LOCAL_BUILDKITD and LOCAL_SATELLITE_COMMAND both choose the satellite program"],
    [{ PROVIDER: "ec2", NODE_ENV: "production", AUTH_SECRET: "x".repeat(32), EC2_AMI_AMD64: "ami-1" }, "SATELLITE_CA_CERT_FILE is required with PROVIDER=ec2 in production"],
    // Unset, instances join the VPC's default group, which lets each reach every other: a build
    // step of one tenant, another tenant's satellite (its sshd, anything on the image).
    [{ PROVIDER: "ec2", NODE_ENV: "production", AUTH_SECRET: "x".repeat(32), EC2_AMI_AMD64: "ami-1", SATELLITE_CA_CERT_FILE: "/c", SATELLITE_CA_KEY_FILE: "/k" }, "EC2_SECURITY_GROUP_IDS is required with PROVIDER=ec2 in production"],
  ])("rejects %o with a message naming the variable", (env, message) => {
    expect(() => parseConfig(env)).toThrow(message);
  });

  // The message goes to stderr, and so to journald or a container's log: a secret in it is leaked.
  it.each([
    [{ AUTH_SECRET: "hunter2-but-too-short" }, "hunter2", "AUTH_SECRET must be at least 32 characters (got a value of 21 characters)"],
    [{ DATABASE_URL: "postgresql+ssl://app:S3cretPw@db/sat" }, "S3cretPw", 'DATABASE_URL must be a URL starting with postgres:// or postgresql:// (got "postgresql+ssl://app:***@db/sat")'],
    [{ SMTP_URL: "smtp+starttls://mailer:S3cretPw@mail:587" }, "S3cretPw", 'SMTP_URL must be a URL starting with smtp:// or smtps:// (got "smtp+starttls://mailer:***@mail:587")'],
    [{ REDIS_URL: "redis//:S3cretPw@cache" }, "S3cretPw", "REDIS_URL must be a URL"],
  ])("names what is wrong with %o and never echoes a secret", (env, secret, message) => {
    let text = "";
    try {
      parseConfig(env);
    } catch (err) {
      text = (err as Error).message;
    }
    expect(text).toContain(message);
    expect(text).not.toContain(secret);
  });

  it("takes a range of bridge subnets that holds a /24 for every satellite port", () => {
    expect(parseConfig({}).LOCAL_BUILDKIT_SUBNETS).toBe("10.0.0.0/8");
    expect(parseConfig({ LOCAL_BUILDKIT_SUBNETS: "172.30.0.0/16", LOCAL_SATELLITE_PORTS: "21000-21255" }).LOCAL_BUILDKIT_SUBNETS).toBe("172.30.0.0/16");
    // Steps on the host's network use no subnet.
    expect(parseConfig({ LOCAL_BUILDKIT_SUBNETS: "192.168.5.0/24", LOCAL_BUILDKIT_NETWORK: "host" }).LOCAL_BUILDKIT_SUBNETS).toBe("192.168.5.0/24");
  });

  it("takes LOCAL_BUILDKITD=none as the built-in backend, alongside nothing else", () => {
    expect(parseConfig({ LOCAL_BUILDKITD: "none" }).LOCAL_BUILDKITD).toBeUndefined();
    expect(parseConfig({ LOCAL_BUILDKITD: "none", LOCAL_SATELLITE_COMMAND: "x {port}" }).LOCAL_SATELLITE_COMMAND).toBe("x {port}");
    expect(parseConfig({ LOCAL_BUILDKITD: " /opt/bk/buildkitd " }).LOCAL_BUILDKITD).toBe("/opt/bk/buildkitd");
  });

  it("treats empty values as unset and never echoes a long value in full", () => {
    expect(parseConfig({ PROVIDER: "" }).PROVIDER).toBe("local");
    expect(() => parseConfig({ DATABASE_URL: "x".repeat(500) })).toThrow(/x{80}…"\)/);
  });
});
