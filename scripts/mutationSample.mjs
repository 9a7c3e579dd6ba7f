#!/usr/bin/env node
// A mutation score estimated from a random sample of mutants, for folders whose full run takes longer than a working
// session (src/exec, src/durable: a surviving mutant there runs a minute or more of covering tests).
//
//   list <folder>[=<files>]...     every mutant Stryker makes in each folder (or in the named files of it,
//                                  comma-separated), none tested
//   draw <name> <seed> <fraction> <folder>... [--excluding <name>...]
//                                  a uniform sample of each folder's list (fraction of the list's size), drawn from the
//                                  mutants no sample named after --excluding holds
//   retest <name> <earlier>        a sample of the earlier sample's undetected mutants still listed, to test them
//                                  again after new tests: their latest results then count for the earlier sample
//   run <name> <part> <parts>      tests one part (every parts-th mutant of each folder) of a sample
//   estimate <name> [<killed> <valid>]
//                                  scores with 95% intervals; the mutants of the excluded samples count with their
//                                  own results, the rest is estimated from this sample; the optional counts are those
//                                  measured in full elsewhere, for the overall estimate
//
// Files live under docs/mutation/sample/: list-<folder>.json (mutant keys), <name>/draw.json (how it was drawn),
// <name>/sample-<folder>.json (the keys drawn), <name>/part<N>.json (Stryker's report of a part). Stryker has no option
// to test chosen mutants, only chosen line ranges, and a range takes every mutant inside it (a block statement's range
// holds all the mutants of its body). So `run` tests with a copy of Stryker under .mutation-sample/ whose instrumenter
// ignores, with the reason "not in the sample", every mutant whose key is not drawn; those are reported as ignored and
// are outside every count.
//
// Why --excluding: tests written after a sample's survivors were seen aim at those mutants, so that sample no longer
// stands for the rest of the folder. A later sample drawn from the other mutants does; the earlier sample's mutants
// count with the results they had when they were drawn (before those tests), a lower bound.
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dir = join(root, 'docs/mutation/sample')
const folders = ['checkpoint', 'state', 'sinks', 'sources', 'exec', 'plan', 'durable', 'operators', 'util', 'cli', 'monitor', 'root']

/** A mutant's identity across runs: file, mutator, location as Stryker's report gives it, replacement. */
const keyOf = (file, m) =>
  `${file}|${m.mutatorName}|${m.location.start.line}:${m.location.start.column}-${m.location.end.line}:${m.location.end.column}|${m.replacement}`

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'))
const writeJson = (path, value) => { mkdirSync(dirname(path), { recursive: true }); writeFileSync(path, JSON.stringify(value) + '\n') }

function fail(message) {
  console.error(`mutationSample: ${message}`)
  process.exit(2)
}

function checkFolders(names) {
  if (names.length === 0) fail(`name at least one folder among ${folders.join(', ')}`)
  for (const name of names) if (!folders.includes(name)) fail(`unknown folder '${name}' (expected one of ${folders.join(', ')})`)
}

/** Runs `body` with the given files written (path → lines), and removes them afterwards, whatever happens. */
function withFiles(files, body) {
  for (const [path, lines] of Object.entries(files)) writeFileSync(path, lines.join('\n') + '\n')
  try {
    body()
  } finally {
    for (const path of Object.keys(files)) rmSync(path, { force: true })
  }
}

function stryker(args, env, bin = join(root, 'node_modules/@stryker-mutator/core/bin/stryker.js')) {
  const run = spawnSync(process.execPath, [bin, 'run', ...args], { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
  if (run.status !== 0) fail(`stryker ${args.join(' ')} exited with ${run.status}`)
}

/** Lists a folder's mutants: a Stryker run whose only test covers nothing, so every mutant is made and none tested. */
function list(specs) {
  const names = specs.map((spec) => spec.split('=')[0])
  checkFolders(names)
  const test = join(root, 'test/mutationSampleListing.test.ts')
  const config = join(root, '.mutation-sample-list.config.mjs')
  withFiles({
    [test]: ["import { expect, test } from 'vitest'", "test('covers nothing', () => { expect(true).toBe(true) })"],
    [config]: [
      "const { default: base } = await import('./stryker.config.mjs')",
      'export default { ...base, testFiles: [\'test/mutationSampleListing.test.ts\'], incremental: false, concurrency: 1,',
      "  vitest: { ...base.vitest, related: false }, reporters: ['json'], tempDirName: '.stryker-tmp-list',",
      '  jsonReporter: { fileName: `reports/sample/list-${process.env.SRX_MUTATE_FOLDER}.json` } }',
    ],
  }, () => {
    for (const spec of specs) {
      const [folder, files] = spec.split('=')
      stryker([config, ...(files ? ['--mutate', files] : [])], { SRX_MUTATE_FOLDER: folder })
      const report = readJson(join(root, `reports/sample/list-${folder}.json`))
      const keys = Object.entries(report.files).flatMap(([file, f]) => f.mutants.map((m) => keyOf(file, m))).sort()
      writeJson(join(dir, `list-${folder}.json`), keys)
      console.log(`${folder}: ${keys.length} mutants`)
    }
  })
}

/** A seeded linear congruential generator: the same seed draws the same sample on every machine. */
function random(seed) {
  let s = seed % 2147483648
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648
}

function draw(name, seedText, fractionText, rest) {
  const at = rest.indexOf('--excluding')
  const names = at < 0 ? rest : rest.slice(0, at)
  const excluding = at < 0 ? [] : rest.slice(at + 1)
  checkFolders(names)
  const seed = Number(seedText)
  const fraction = Number(fractionText)
  if (!/^[a-z0-9-]+$/i.test(name ?? '')) fail(`a sample's name is letters, digits and dashes (got '${name}')`)
  if (!Number.isInteger(seed) || seed < 0) fail(`the seed must be a non-negative integer (got '${seedText}')`)
  if (!(fraction > 0 && fraction <= 1)) fail(`the fraction must be in (0, 1] (got '${fractionText}')`)
  const rnd = random(seed)
  for (const folder of names) {
    const taken = new Set(excluding.flatMap((other) => readJson(join(dir, other, `sample-${folder}.json`))))
    const all = readJson(join(dir, `list-${folder}.json`))
    const keys = all.filter((key) => !taken.has(key))
    for (let i = keys.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1))
      ;[keys[i], keys[j]] = [keys[j], keys[i]]
    }
    const drawn = keys.slice(0, Math.round(all.length * fraction))
    writeJson(join(dir, name, `sample-${folder}.json`), drawn)
    console.log(`${folder}: ${drawn.length} of ${keys.length} drawn (${all.length - keys.length} in ${excluding.join(', ') || 'no earlier sample'})`)
  }
  writeJson(join(dir, name, 'draw.json'), { seed, fraction, folders: names, excluding })
}

function retest(name, earlier) {
  if (!/^[a-z0-9-]+$/i.test(name ?? '')) fail(`a sample's name is letters, digits and dashes (got '${name}')`)
  const { folders: names } = readJson(join(dir, earlier, 'draw.json'))
  const found = results(earlier)
  for (const folder of names) {
    const listed = new Set(readJson(join(dir, `list-${folder}.json`)))
    const keys = readJson(join(dir, earlier, `sample-${folder}.json`)).filter((key) => {
      const status = found.get(key)?.status
      return listed.has(key) && (status === 'Survived' || status === 'NoCoverage')
    })
    writeJson(join(dir, name, `sample-${folder}.json`), keys)
    console.log(`${folder}: ${keys.length} undetected in ${earlier} to test again`)
  }
  writeJson(join(dir, name, 'draw.json'), { folders: names, excluding: [], retests: earlier })
}

/** The copy of Stryker whose instrumenter ignores the mutants not drawn (see the header). */
function patchedStryker() {
  const target = join(root, '.mutation-sample/node_modules/@stryker-mutator')
  const transformer = join(target, 'instrumenter/dist/src/transformers/babel-transformer.js')
  if (existsSync(transformer) && readFileSync(transformer, 'utf8').includes('SRX_SAMPLE_FILE')) return join(target, 'core/bin/stryker.js')
  rmSync(target, { recursive: true, force: true })
  cpSync(join(root, 'node_modules/@stryker-mutator'), target, { recursive: true, dereference: true })
  let source = readFileSync(transformer, 'utf8')
  const anchor = 'ignorerBookkeeper.currentIgnoreMessage,'
  if (!source.includes(anchor) || !source.includes('const { traverse } = babel;')) {
    fail(`${transformer} is not the instrumenter this patch was written for (@stryker-mutator/instrumenter 9.6.1)`)
  }
  source = source.replace('const { traverse } = babel;', [
    'const { traverse } = babel;',
    "import sampleGenerate from '@babel/generator';",
    "import { readFileSync as sampleRead } from 'node:fs';",
    "import { relative as sampleRelative } from 'node:path';",
    "const sampleKeys = process.env.SRX_SAMPLE_FILE ? new Set(JSON.parse(sampleRead(process.env.SRX_SAMPLE_FILE, 'utf8'))) : undefined;",
    'function sampleIgnore(fileName, loc, mutatorName, replacement) {',
    '    if (!sampleKeys) return undefined;',
    "    const file = sampleRelative(process.cwd(), fileName).replace(/\\\\/g, '/');",
    '    const key = `${file}|${mutatorName}|${loc.start.line}:${loc.start.column + 1}-${loc.end.line}:${loc.end.column + 1}|${sampleGenerate.default(replacement).code}`;',
    "    return sampleKeys.has(key) ? undefined : 'not in the sample';",
    '}',
  ].join('\n'))
  source = source.replace(anchor, 'ignorerBookkeeper.currentIgnoreMessage ??\n                        sampleIgnore(originFileName, node.node.loc, mutator.name, replacement),')
  writeFileSync(transformer, source)
  return join(target, 'core/bin/stryker.js')
}

/** Tests every `parts`-th drawn mutant of each folder, starting at `part`, with every folder's test files at once. */
function run(name, partText, partsText) {
  const part = Number(partText)
  const parts = Number(partsText)
  if (!(Number.isInteger(parts) && parts >= 1 && Number.isInteger(part) && part >= 1 && part <= parts)) {
    fail(`run needs <part> <parts> with 1 <= part <= parts (got '${partText}' '${partsText}')`)
  }
  const { folders: names } = readJson(join(dir, name, 'draw.json'))
  const keys = names.flatMap((folder) => readJson(join(dir, name, `sample-${folder}.json`)).filter((_, i) => i % parts === part - 1))
  const keysFile = join(root, `reports/sample/${name}-part${part}-keys.json`)
  writeJson(keysFile, keys)
  const config = join(root, '.mutation-sample-run.config.mjs')
  withFiles({
    [config]: [
      "process.env.SRX_MUTATE_FOLDER ??= 'exec'",
      "const { default: base, testsOf } = await import('./stryker.config.mjs')",
      'export default { ...base, testFiles: [...new Set(Object.values(testsOf).flat())], incremental: false,',
      "  reporters: ['json', 'progress', 'clear-text'], tempDirName: '.stryker-tmp-sample',",
      `  jsonReporter: { fileName: 'docs/mutation/sample/${name}/part${part}.json' } }`,
    ],
  }, () => {
    const files = [...new Set(keys.map((key) => key.split('|')[0]))]
    stryker([config, '--mutate', files.join(',')], { SRX_SAMPLE_FILE: keysFile }, patchedStryker())
  })
}

/**
 * The drawn mutants' results from the reports of a sample's parts, by key; with `retested`, overlaid by those of the
 * samples that test its undetected mutants again (for an excluded sample, whose mutants count as they are now; never
 * for the sample estimated from, which would then stand for its folder with results its own survivors' tests made).
 */
function results(name, retested = false) {
  const found = new Map()
  const read = (sample) => {
    for (let part = 1; existsSync(join(dir, sample, `part${part}.json`)); part++) {
      const report = readJson(join(dir, sample, `part${part}.json`))
      for (const [file, f] of Object.entries(report.files)) {
        for (const m of f.mutants) if (m.statusReason !== 'not in the sample') found.set(keyOf(file, m), { file, ...m })
      }
    }
  }
  read(name)
  if (!retested) return found
  for (const other of readdirSync(dir)) {
    const draw = join(dir, other, 'draw.json')
    if (existsSync(draw) && readJson(draw).retests === name) read(other)
  }
  return found
}

/** Counts of detected (killed, timed out) and undetected (survived, uncovered) among some keys' results. */
function count(keys, found) {
  const c = { drawn: 0, tested: 0, detected: 0, undetected: 0, ignored: 0, errors: 0, survivors: [] }
  for (const key of keys) {
    c.drawn++
    const m = found.get(key)
    if (m === undefined) continue
    c.tested++
    if (m.status === 'Killed' || m.status === 'Timeout') c.detected++
    else if (m.status === 'Survived' || m.status === 'NoCoverage') { c.undetected++; c.survivors.push(m) }
    else if (m.status === 'Ignored') c.ignored++ // static: outside the score, as in a full run
    else c.errors++ // compile or runtime errors: outside the score, as in a full run
  }
  return c
}

/** Per folder: the sample's counts, and the excluded samples' counts over their mutants still in the folder's list. */
function tally(name) {
  const { folders: names, excluding } = readJson(join(dir, name, 'draw.json'))
  const found = results(name)
  const earlier = excluding.map((other) => ({ other, found: results(other, true) }))
  return names.map((folder) => {
    const listed = new Set(readJson(join(dir, `list-${folder}.json`)))
    const known = { detected: 0, valid: 0, count: 0 }
    for (const { other, found: theirs } of earlier) {
      const keys = readJson(join(dir, other, `sample-${folder}.json`)).filter((key) => listed.has(key))
      const c = count(keys, theirs)
      if (c.tested < c.drawn) fail(`sample ${other} has ${c.drawn - c.tested} untested mutants in ${folder}: run all its parts first`)
      known.detected += c.detected
      known.valid += c.detected + c.undetected
      known.count += keys.length
    }
    return { folder, size: listed.size, rest: listed.size - known.count, known, ...count(readJson(join(dir, name, `sample-${folder}.json`)), found) }
  })
}

/** Wilson's 95% interval of a proportion. */
function wilson(k, n) {
  const z = 1.96
  const p = k / n
  const den = 1 + (z * z) / n
  const centre = (p + (z * z) / (2 * n)) / den
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / den
  return [centre - half, centre + half]
}

function estimate(name, killedText, validText) {
  const strata = tally(name).filter((s) => s.tested > 0)
  if (strata.length === 0) fail(`no part of the sample has been tested yet (no ${join(dir, 'part1.json')})`)
  const measured = { detected: Number(killedText ?? 0), valid: Number(validText ?? 0) }
  const pct = (x) => `${(100 * x).toFixed(1)}%`
  // Each folder: the excluded samples' mutants as counted, the others scaled from the tested ones in proportion.
  const scaled = (s, detected, undetected) => ({
    detected: s.known.detected + (s.rest * detected) / s.tested,
    valid: s.known.valid + (s.rest * (detected + undetected)) / s.tested,
  })
  let detected = 0
  let valid = 0
  for (const s of strata) {
    const n = s.detected + s.undetected
    const [low, high] = wilson(s.detected, n)
    const e = scaled(s, s.detected, s.undetected)
    detected += e.detected
    valid += e.valid
    const before = s.known.valid > 0 ? `; with the ${s.known.detected} of ${s.known.valid} of the earlier samples: ${pct(e.detected / e.valid)}` : ''
    console.log(`${s.folder}: ${s.size} mutants, ${s.drawn} drawn of ${s.rest}, ${s.tested} tested: ${s.detected} detected, ${s.undetected} undetected, ${s.ignored} static, ${s.errors} errors; ${pct(s.detected / n)} (95%: ${pct(low)}–${pct(high)})${before}`)
  }
  // The interval of the combined estimates: the tested mutants of each folder drawn again with replacement.
  const rnd = random(1)
  const sampled = []
  const overall = []
  for (let b = 0; b < 4000; b++) {
    let d = 0
    let v = 0
    for (const s of strata) {
      let k = 0
      let u = 0
      for (let i = 0; i < s.tested; i++) {
        const x = rnd() * s.tested
        if (x < s.detected) k++
        else if (x < s.detected + s.undetected) u++
      }
      const e = scaled(s, k, u)
      d += e.detected
      v += e.valid
    }
    sampled.push(d / v)
    overall.push((measured.detected + d) / (measured.valid + v))
  }
  const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))]
  console.log(`sampled folders together: ${pct(detected / valid)} (95%: ${pct(quantile(sampled, 0.025))}–${pct(quantile(sampled, 0.975))}), about ${Math.round(detected)} of ${Math.round(valid)}`)
  if (measured.valid > 0) {
    console.log(`with the ${measured.detected} of ${measured.valid} measured in full: ${pct((measured.detected + detected) / (measured.valid + valid))} (95%: ${pct(quantile(overall, 0.025))}–${pct(quantile(overall, 0.975))})`)
  }
  for (const s of strata) {
    for (const m of s.survivors) console.log(`  ${m.file}:${m.location.start.line}:${m.location.start.column} ${m.status} ${m.mutatorName} → ${JSON.stringify(m.replacement)}`)
  }
}

const [command, ...args] = process.argv.slice(2)
if (command === 'list') list(args)
else if (command === 'draw') draw(args[0], args[1], args[2], args.slice(3))
else if (command === 'retest') retest(args[0], args[1])
else if (command === 'run') run(args[0], args[1], args[2])
else if (command === 'estimate') estimate(args[0], args[1], args[2])
else fail('usage: mutationSample.mjs list <folder>[=<files>]... | draw <name> <seed> <fraction> <folder>... [--excluding <name>...] | retest <name> <earlier> | run <name> <part> <parts> | estimate <name> [<killed> <valid>]')
