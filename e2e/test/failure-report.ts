// Every browser test file: when a test fails, report what each open page shows (browser.ts).
import { afterEach } from "vitest";
import { reportFailure } from "./browser.ts";

afterEach(async ({ task }) => {
  if (task.result?.state === "fail") await reportFailure(task.name);
});
