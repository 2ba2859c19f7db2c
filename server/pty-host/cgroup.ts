// Whether the pty host could give each terminal its own cgroup v2 group (pids.max,
// memory.max). Per-terminal groups are not built yet; the host says at start-up what it
// found, and README ("Security model") says which limits apply instead.
import fs from 'node:fs';
import path from 'node:path';

export interface CgroupSupport {
  usable: boolean;
  /** The host's own group in the unified hierarchy, when there is one. */
  group?: string;
  reason: string;
}

export interface CgroupPaths {
  /** Where the unified (v2) hierarchy would be mounted. */
  mount: string;
  /** This process's cgroup membership file. */
  selfCgroup: string;
}

const DEFAULT_PATHS: CgroupPaths = { mount: '/sys/fs/cgroup', selfCgroup: '/proc/self/cgroup' };
const NEEDED = ['pids', 'memory'];

export function detectCgroupV2(paths: CgroupPaths = DEFAULT_PATHS): CgroupSupport {
  const controllersFile = path.join(paths.mount, 'cgroup.controllers');
  if (!fs.existsSync(controllersFile)) {
    return { usable: false, reason: `no cgroup v2 unified hierarchy at ${paths.mount} (cgroup v1 or hybrid)` };
  }
  let self: string;
  try {
    self = fs.readFileSync(paths.selfCgroup, 'utf8');
  } catch (err) {
    return { usable: false, reason: `cannot read ${paths.selfCgroup}: ${(err as Error).message}` };
  }
  // v2 membership is the line "0::<path>".
  const line = self.split('\n').find((l) => l.startsWith('0::'));
  if (!line) return { usable: false, reason: 'this process is in no cgroup v2 group' };
  const group = path.join(paths.mount, line.slice(3).trim());
  let available: string[];
  try {
    available = fs.readFileSync(path.join(group, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch (err) {
    return { usable: false, group, reason: `cannot read the controllers of ${group}: ${(err as Error).message}` };
  }
  const missing = NEEDED.filter((c) => !available.includes(c));
  if (missing.length) return { usable: false, group, reason: `controllers ${missing.join(', ')} not available in ${group}` };
  try {
    fs.accessSync(group, fs.constants.W_OK);
  } catch {
    return { usable: false, group, reason: `${group} is not writable by this process` };
  }
  return { usable: true, group, reason: `pids and memory controllers available in ${group}` };
}
