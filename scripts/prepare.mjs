#!/usr/bin/env node
// npm's `prepare`: builds dist/ with TypeScript. npm runs it in a git checkout it installs (after installing the
// devDependencies there) and in a directory installed with `npm i <path>` — where it does NOT install anything: a
// fresh clone then has no TypeScript and no node_modules, and the linked package could not even resolve rxjs at run
// time. In that case this script first installs the clone's locked dependencies (`npm ci --ignore-scripts`, from the
// npm cache or registry as any install does), then builds. A tarball install never runs it: the tarball ships dist/.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')

function run(command, args, env) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env })
  if (result.status !== 0) {
    console.error(`structured-rx prepare: '${command} ${args.join(' ')}' failed in ${root} (exit ${result.status ?? result.signal})`)
    process.exit(result.status ?? 1)
  }
}

if (!existsSync(tsc)) {
  console.error('structured-rx prepare: no TypeScript in this checkout (installed as a directory); installing its locked dependencies')
  // The outer npm's settings (global, prefix, save, omit…) describe the outer install, not this one.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)))
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  run(npm, ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], env)
}
run(process.execPath, [tsc, '-p', 'tsconfig.build.json'], process.env)
