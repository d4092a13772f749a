# shellcheck shell=bash
# Source me: `. scripts/bootstrap.sh`
#
# Ensures the pinned toolchain (Node 24, pnpm 10, Task v3.54.0) is present in
# $RT_CACHE/tools, installing only what is missing, and puts it first on PATH.
# Machines here have Node 20 and no corepack that works, so Node/pnpm come from
# the npm registry (the `node` package ships the binary) instead.
#
# Being sourced, this file does not touch the caller's shell options: each
# install step runs in a subshell with `set -euo pipefail`, and the file
# returns non-zero if any step failed.

RT_CACHE=${RT_CACHE:-$HOME/.cache/requesttasker}
RT_TASK_VERSION=v3.54.0
export RT_CACHE

# Put the cache first so its node/pnpm/task win over the machine's; each directory is checked on its own, as a
# caller may already have one of them on PATH.
for _rt_dir in "$RT_CACHE/tools/bin" "$RT_CACHE/tools/node_modules/.bin"; do
  case ":$PATH:" in
    *":$_rt_dir:"*) ;;
    *) PATH="$_rt_dir:$PATH" ;;
  esac
done
unset _rt_dir
export PATH

rt_log() { echo "[bootstrap] $*" >&2; }

_rt_have_node() {
  [[ "$(node --version 2>/dev/null)" == v24.* ]] &&
    [[ "$(pnpm --version 2>/dev/null)" == 10.* ]]
}

_rt_have_task() {
  [[ "$("$RT_CACHE/tools/bin/task" --version 2>/dev/null)" == *"${RT_TASK_VERSION#v}"* ]]
}

rt_ensure_node() (
  set -euo pipefail
  _rt_have_node && exit 0
  command -v npm >/dev/null || { rt_log "npm not found: install Node.js/npm first"; exit 1; }
  rt_log "installing node@24 + pnpm@10 into $RT_CACHE/tools"
  mkdir -p "$RT_CACHE/tools"
  npm i --prefix "$RT_CACHE/tools" --no-audit --no-fund --loglevel=error node@24 pnpm@10 >&2
  _rt_have_node || { rt_log "node/pnpm install did not give node v24 + pnpm 10"; exit 1; }
)

rt_ensure_task() (
  set -euo pipefail
  _rt_have_task && exit 0
  mkdir -p "$RT_CACHE/tools/bin"
  if command -v go >/dev/null; then
    rt_log "building task $RT_TASK_VERSION with go install (~90 s, once)"
    GOBIN="$RT_CACHE/tools/bin" go install "github.com/go-task/task/v3/cmd/task@$RT_TASK_VERSION" >&2
  else
    # No Go toolchain: PyPI's go-task-bin wheel carries the same prebuilt binary.
    rt_log "go not found; installing go-task-bin==${RT_TASK_VERSION#v} from PyPI"
    python3 -m venv "$RT_CACHE/task-venv"
    "$RT_CACHE/task-venv/bin/pip" install -q --disable-pip-version-check "go-task-bin==${RT_TASK_VERSION#v}" >&2
    ln -sf "$RT_CACHE/task-venv/bin/task" "$RT_CACHE/tools/bin/task"
  fi
  _rt_have_task || { rt_log "task install did not give $RT_TASK_VERSION"; exit 1; }
)

# Serialise installs so parallel callers (e.g. two `scripts/task` runs) don't
# race on the same cache; the fast path (all present) takes no lock.
rt_bootstrap() (
  set -euo pipefail
  _rt_have_node && _rt_have_task && exit 0
  mkdir -p "$RT_CACHE"
  exec 9>"$RT_CACHE/.bootstrap.lock"
  flock 9
  rt_ensure_node
  rt_ensure_task
)

rt_bootstrap || return 1
