#!/usr/bin/env node
import { createTaskClient, RequestTaskerProblem } from '@request-tasker/client'
import { cancel, EXIT, get, ls, retry, send, tail, UsageError, wait } from './commands.js'
import { COMMAND_HELP, MAIN_HELP } from './help.js'
import type { Io } from './output.js'

// rtask: the RequestTasker command line. Reads RTASK_URL and RTASK_KEY; results on stdout, everything else on stderr.
const io: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(text.startsWith('\r') ? text : `${text}\n`),
  errIsTty: process.stderr.isTTY === true,
}
const COMMANDS = { send, get, ls, wait, retry, cancel, tail }

process.exitCode = await run(process.argv.slice(2))

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(MAIN_HELP)
    return command === undefined ? EXIT.usage : EXIT.done
  }
  if (command === '--version') {
    io.out('rtask 0.1.0')
    return EXIT.done
  }
  if (!(command in COMMANDS)) {
    io.err(`rtask: no command ${JSON.stringify(command)}; run \`rtask --help\` for the list`)
    return EXIT.usage
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(COMMAND_HELP[command] ?? MAIN_HELP)
    return EXIT.done
  }
  const { args, url, key } = connection(rest)
  if (!key) {
    io.err('rtask: no API key; set RTASK_KEY (or pass --key KEY)')
    return EXIT.usage
  }
  const json = args.includes('--json')
  const client = createTaskClient({ baseUrl: url, apiKey: key })
  const stop = new AbortController()
  process.once('SIGINT', () => stop.abort())
  try {
    const name = command as keyof typeof COMMANDS
    return await COMMANDS[name]({ client, io, json }, args, stop.signal)
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`rtask: ${err.message}; see \`rtask ${err.command ?? command} --help\``)
      return EXIT.usage
    }
    if (err instanceof RequestTaskerProblem) {
      if (json) io.out(JSON.stringify(err.problem))
      io.err(`rtask: ${err.message}${err.retryAfterSeconds ? `; retry in ${err.retryAfterSeconds} s` : ''}`)
      return EXIT.failed
    }
    io.err(
      `rtask: cannot reach ${url}: ${(err as Error).cause ? String((err as Error & { cause: unknown }).cause) : (err as Error).message}; is RTASK_URL right?`,
    )
    return EXIT.failed
  }
}

/** --url and --key (or RTASK_URL and RTASK_KEY), taken out of the command's own arguments. */
function connection(args: string[]) {
  let url = process.env.RTASK_URL || 'http://127.0.0.1:8080'
  let key = process.env.RTASK_KEY || ''
  const left: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    if (arg === '--url' || arg === '--key') {
      const value = args[++i] ?? ''
      if (arg === '--url') url = value
      else key = value
    } else if (arg.startsWith('--url=')) url = arg.slice(6)
    else if (arg.startsWith('--key=')) key = arg.slice(6)
    else left.push(arg)
  }
  return { args: left, url, key }
}
