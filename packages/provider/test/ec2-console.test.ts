// What an EC2 satellite's failure quotes from its serial console: user-data's own lines when
// there are any (CR LF line ends and terminal escapes as a real console has them), else its last
// lines; bounded.
import { describe, expect, it } from "vitest";
import { consoleDiagnosis } from "../src/ec2-console.ts";

describe("consoleDiagnosis", () => {
  it("quotes user-data's own lines, without the boot around them", () => {
    const text = "[    0.000000] Linux version 6.1.0\r\n\x1b[0;32m  OK  \x1b[0m] Started cloud-init.\r\nsatellites: buildkitd is not running: no space left on device\r\n[  9.1] cloud-init[812]: Cloud-init v. 23.1 finished\r\n";
    expect(consoleDiagnosis(text)).toBe("buildkitd is not running: no space left on device");
  });

  it("without them, the last five lines; nothing for an empty console; at most 600 characters", () => {
    expect(consoleDiagnosis(["a", "b", "", "c", "d", "e", "f"].join("\n"))).toBe("b | c | d | e | f");
    expect(consoleDiagnosis("\r\n\r\n")).toBeNull();
    const long = consoleDiagnosis(`satellites: ${"x".repeat(2000)}`)!;
    expect(long).toHaveLength(601);
    expect(long.startsWith("…")).toBe(true);
  });
});
