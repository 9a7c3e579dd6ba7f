#!/usr/bin/env node
// `npm run mutate -- checkpoint state`: mutation testing of the named src/ folders, one Stryker run per folder
// (stryker.config.mjs reads the folder from SRX_MUTATE_FOLDER). Stops at the first run that fails to complete.
import { spawnSync } from 'node:child_process'

const folders = process.argv.slice(2)
if (folders.length === 0) {
  console.error('usage: npm run mutate -- <folder>... (checkpoint, state, sinks, sources, exec, plan, durable, operators, util, cli, monitor, root: the files at the top of src/)')
  process.exit(2)
}
for (const folder of folders) {
  const started = Date.now()
  const run = spawnSync('npx', ['stryker', 'run'], { stdio: 'inherit', env: { ...process.env, SRX_MUTATE_FOLDER: folder } })
  console.log(`mutate ${folder}: exit ${run.status}, ${((Date.now() - started) / 60_000).toFixed(1)} min`)
  if (run.status !== 0) process.exit(run.status ?? 1)
}
