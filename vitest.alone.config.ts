import { defineConfig } from "vitest/config";
import base, { ALONE } from "./vitest.config.ts";

// The attack suite compares a tenant's p99 during an attack with its p99 just before and after;
// on two cores another test file running beside it decides that ratio more than the proxy does.
// So `npm test` runs these files after the others, one worker, nothing beside them.
export default defineConfig({ test: { ...base.test, include: ALONE, exclude: ["**/node_modules/**"], maxWorkers: 1 } });
