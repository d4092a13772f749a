// Help texts, examples first (clig.dev): most readers want to copy a line and change it.

export const MAIN_HELP = `rtask — send HTTP requests later through RequestTasker, and follow them

Examples
  export RTASK_URL=http://127.0.0.1:8080 RTASK_KEY=demo-key
  rtask send POST https://api.example.com/hooks -H 'Content-Type: application/json' -d '{"hello":1}' --wait
  rtask ls --status error
  rtask wait 019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b
  rtask retry 019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b
  rtask tail

Commands
  send METHOD URL   submit a task (-H, -d, --wait, …)
  get ID            show a task: status, attempts, the response
  ls                list tasks, newest first (--status, --destination, --since)
  wait ID           wait until a task ends, then show it
  retry ID          send a task in error again
  cancel ID         withdraw a task not sent yet
  tail              show new and finished tasks as they happen, until Ctrl-C

Settings
  RTASK_URL   the server (default http://127.0.0.1:8080); --url overrides it
  RTASK_KEY   your API key (required); --key overrides it
  --json      machine-readable output on stdout (one JSON document; tail: one per line)
  --help      this text; \`rtask COMMAND --help\` for one command

Exit codes
  0  done: the command succeeded (send --wait, wait: the task ended done)
  1  failed: the server refused, could not be reached, or the task ended error or cancelled
  2  usage: a flag or argument is wrong; nothing was sent
  3  not yet: wait (or send --wait) ran out of time before the task ended`

export const COMMAND_HELP: Record<string, string> = {
  send: `Submit a task: the server stores it and answers its id at once; a tasker sends it later.

Examples
  rtask send GET https://api.example.com/health
  rtask send POST https://api.example.com/hooks -H 'Content-Type: application/json' -d '{"event":"signup"}'
  rtask send PUT https://api.example.com/files/7 -d @report.pdf --base64 --wait
  rtask send POST https://api.example.com/hooks -d @body.json --delay 60000 --idempotency-key order-42

Usage
  rtask send METHOD URL [-H 'Name: value']... [-d DATA | -d @FILE] [flags]

Flags
  -H, --header 'Name: value'   a request header; repeat for more (a repeated name sends each line)
  -d, --data DATA | @FILE      the body, as text, or read from FILE (- reads standard input)
      --base64                 send the body's bytes as they are (binary files)
      --timeout MS             the task's send timeout, 1 to 60000 ms
      --delay MS               send no sooner than MS from now
      --not-before TIME        send no sooner than this RFC 3339 instant
      --max-attempts N         attempts in all, retries included
      --idempotency-key KEY    make the submission safe to repeat
      --wait                   wait until the task ends and show it (exit 0 done, 1 error, 3 still running)
      --wait-for SECONDS       how long --wait waits (default 600)
      --json                   print the server's answer as JSON`,
  get: `Show a task: its status, history, attempts and, once it ended, the response.

Examples
  rtask get 019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b
  rtask get 019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b --json | jq .httpStatusCode

Usage
  rtask get ID [--json]`,
  ls: `List your tasks, newest first.

Examples
  rtask ls
  rtask ls --status error,cancelled --destination api.example.com
  rtask ls --since 2026-11-30T00:00:00Z --all --json

Usage
  rtask ls [--status S[,S]] [--destination HOST] [--since TIME] [--until TIME] [--limit N | --all] [--json]

Flags
  --status S[,S]       new, scheduled, in_process, done, error, cancelled
  --destination HOST   the URL's host, with its port when not the default
  --since, --until     RFC 3339 instants bounding the creation time
  --limit N            show at most N tasks (default 20); --all shows every one, a page at a time`,
  wait: `Wait until a task ends (done, error, cancelled), then show it. One long-poll at a time, no polling loop.

Examples
  rtask wait 019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b && echo delivered
  rtask wait 019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b --for 30 --json

Usage
  rtask wait ID [--for SECONDS] [--json]

Exit codes: 0 done, 1 error or cancelled, 3 still not ended after --for seconds (default 600).`,
  retry: `Send a task that ended in error again, with a fresh budget of attempts.

Examples
  rtask retry 019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b

Usage
  rtask retry ID [--json]`,
  cancel: `Withdraw a task that is new or scheduled: it is never sent.

Examples
  rtask cancel 019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b

Usage
  rtask cancel ID [--json]`,
  tail: `Show tasks as they are submitted, and again as they end, until Ctrl-C. Follows the tasks submitted since it
started, up to 200 unfinished ones at a time (one long-poll each).

Examples
  rtask tail
  rtask tail --json | jq -c 'select(.event == "error")'

Usage
  rtask tail [--since TIME] [--interval MS] [--json]

Flags
  --since TIME     start from the tasks created at or after this RFC 3339 instant (default: now)
  --interval MS    how often to look for new tasks (default 1000)`,
}
