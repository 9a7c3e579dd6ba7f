#!/usr/bin/env node
/** The `structured-rx` executable (package.json `bin`): runs the command line and exits with its code. */
import { runCli } from './cli.js'
import { processIo } from './io.js'

process.exitCode = await runCli(process.argv.slice(2), processIo)
