// The OCI runtime every satellite's BuildKit runs its build steps with (local provider and EC2
// user-data alike): runc, after the step's cgroup and OOM score are put where the satellite's
// limits hold.
/** What a build step's process gets at least: more killable than any daemon or the control plane (0). */
export const STEP_OOM_SCORE_ADJ = 500;

/**
 * The OCI runtime buildkitd runs, around runc. BuildKit takes a client's cgroup parent
 * (`--opt cgroup-parent=…`, buildx's --cgroup-parent) over its configured default, and no
 * entitlement gates it: a step asked for `/` ran at the host's top, outside the satellite's
 * limits, freezer and sweep. So every container's cgroupsPath is put back under
 * `<group>/buildkit/`, before runc reads it. And steps inherit the daemon's OOM score, which the
 * tenant sets (down to -1000): they get at least STEP_OOM_SCORE_ADJ, so the OOM killer takes a
 * build step before its daemon or anything else on the host.
 */
export function runcWrapper(cgroupPath: string, runc: string): string {
  // Paths are ours (`/<parent>/local-<hex>`, `/satellite.slice`), but kept to a safe alphabet for sh and sed all the same.
  const parent = `${cgroupPath}/buildkit`.replace(/[^A-Za-z0-9/_.-]/g, "");
  return [
    "#!/bin/sh",
    "# Written by Satellites at each start: see runcWrapper in packages/provider/src/runc-wrapper.ts.",
    `[ "$(cat /proc/self/oom_score_adj)" -ge ${STEP_OOM_SCORE_ADJ} ] || echo ${STEP_OOM_SCORE_ADJ} > /proc/self/oom_score_adj`,
    'bundle=; prev=; last=',
    'for a in "$@"; do',
    '  case $prev in --bundle|-b) bundle=$a ;; esac',
    '  case $a in --bundle=*) bundle=${a#--bundle=} ;; esac',
    '  prev=$a; last=$a',
    "done",
    'if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then',
    // Whatever form the path took (BuildKit writes `<slice>:buildkit:<id>` for a parent ending in .slice).
    `  sed -i -E -e 's#"cgroupsPath":"[^"]*"#"cgroupsPath":"${parent}/'"$last"'"#' -e 's#"oomScoreAdj":(-[0-9]+|[0-9]{1,2}|[0-4][0-9]{2})([,}])#"oomScoreAdj":${STEP_OOM_SCORE_ADJ}\\2#' "$bundle/config.json"`,
    `  grep -q '"cgroupsPath"' "$bundle/config.json" || sed -i -e 's#"linux":{#"linux":{"cgroupsPath":"${parent}/'"$last"'",#' "$bundle/config.json"`,
    "fi",
    `exec '${runc.replaceAll("'", "'\\''")}' "$@"`,
    "",
  ].join("\n");
}
