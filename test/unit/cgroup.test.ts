// Detection of per-terminal cgroup v2 support, on real directory trees laid out like
// /sys/fs/cgroup in each case (unified with the controllers, without them, hybrid v1).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { detectCgroupV2 } from '../../server/pty-host/cgroup.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ptyhub-cgroup-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function layout(name: string, files: Record<string, string>, self: string) {
  const mount = path.join(root, name);
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(mount, file)), { recursive: true });
    fs.writeFileSync(path.join(mount, file), text);
  }
  fs.mkdirSync(mount, { recursive: true });
  const selfCgroup = path.join(root, `${name}.self`);
  fs.writeFileSync(selfCgroup, self);
  return { mount, selfCgroup };
}

it('is usable with a unified hierarchy whose group offers pids and memory', () => {
  const paths = layout('unified', { 'cgroup.controllers': 'cpu memory pids', 'svc/cgroup.controllers': 'memory pids' }, '0::/svc\n');
  expect(detectCgroupV2(paths)).toMatchObject({ usable: true, group: path.join(paths.mount, 'svc') });
});

it('is not usable when the group lacks a controller, saying which', () => {
  const paths = layout('nomem', { 'cgroup.controllers': 'cpu pids', 'svc/cgroup.controllers': 'pids' }, '0::/svc\n');
  expect(detectCgroupV2(paths)).toMatchObject({ usable: false, reason: expect.stringMatching(/memory not available/) });
});

it('is not usable on cgroup v1 or a hybrid layout', () => {
  const paths = layout('hybrid', { 'pids/tasks': '', 'unified/cgroup.procs': '' }, '8:pids:/\n0::/\n');
  expect(detectCgroupV2(paths)).toMatchObject({ usable: false, reason: expect.stringMatching(/no cgroup v2 unified hierarchy/) });
});

it('answers on this machine, whatever it has', () => {
  const found = detectCgroupV2();
  expect(typeof found.usable).toBe('boolean');
  expect(found.reason.length).toBeGreaterThan(0);
});
