# shellcheck shell=bash
# Source me: `. scripts/bootstrap.sh`
#
# Ensures the pinned toolchain (Node 24, pnpm 10, Task v3.54.0) is present in $RT_CACHE/tools, installing only what is
# missing, and puts it first on PATH. Machines here have an older Node and no corepack that works, so Node and pnpm
# come from the npm registry (the `node` package ships the binary). Task comes from PyPI's go-task-bin wheel, which
# carries the prebuilt binary (seconds); only when Python or pip fail is it built with `go install` (minutes). On a
# bare Debian machine, the npm and Python these need are installed from Debian first.
#
# Being sourced, this file does not touch the caller's shell options: each install step runs in a subshell and ends by
# checking that it got what it installs, and the file returns non-zero if any step failed.

RT_CACHE=${RT_CACHE:-$HOME/.cache/requesttasker}
RT_TASK_VERSION=v3.54.0
export RT_CACHE

_rt_scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/progress.sh
. "$_rt_scripts/progress.sh"
# shellcheck source=scripts/debian-packages.sh
. "$_rt_scripts/debian-packages.sh"
unset _rt_scripts

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
  command -v npm >/dev/null || rt_apt_install npm
  mkdir -p "$RT_CACHE/tools"
  rt_progress "[bootstrap] downloading node@24 and pnpm@10 from the npm registry into $RT_CACHE/tools" \
    npm i --prefix "$RT_CACHE/tools" --no-audit --no-fund --loglevel=error node@24 pnpm@10 >&2
  _rt_have_node || { rt_log "node/pnpm install did not give node v24 + pnpm 10"; exit 1; }
)

# The go-task-bin wheel in a venv of its own; fails when there is no python3, or it cannot make a venv (Debian
# without python3-venv), or pip cannot install the wheel. Each step says `|| return`: called as an `if` condition,
# this function runs with `set -e` ignored.
_rt_task_from_pypi() {
  command -v python3 >/dev/null || return 1
  rm -rf "$RT_CACHE/task-venv"
  python3 -m venv "$RT_CACHE/task-venv" >&2 || return 1
  rt_progress "[bootstrap] installing task ${RT_TASK_VERSION#v} from PyPI (go-task-bin)" \
    "$RT_CACHE/task-venv/bin/pip" install -q --disable-pip-version-check "go-task-bin==${RT_TASK_VERSION#v}" >&2 ||
    return 1
  ln -sf "$RT_CACHE/task-venv/bin/task" "$RT_CACHE/tools/bin/task"
}

rt_ensure_task() (
  set -euo pipefail
  _rt_have_task && exit 0
  mkdir -p "$RT_CACHE/tools/bin"
  if ! _rt_task_from_pypi; then
    # No python3, or one that cannot make venvs (Debian's own without python3-venv): Debian's python3-venv takes
    # seconds, where building Task takes minutes.
    rt_log "task from PyPI failed; trying again with Debian's python3-venv"
    if ! { rt_apt_install python3 python3-venv && _rt_task_from_pypi; }; then
      command -v go >/dev/null || { rt_log "could not install task: no Python with pip, and no Go"; exit 1; }
      rt_log "building task with go install instead"
      rt_progress "[bootstrap] building task $RT_TASK_VERSION with go install (minutes, once)" \
        env GOBIN="$RT_CACHE/tools/bin" go install "github.com/go-task/task/v3/cmd/task@$RT_TASK_VERSION" >&2
    fi
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
  # Called as `rt_bootstrap || return 1`, this runs with `set -e` ignored: a failed step must stop it explicitly.
  rt_ensure_node && rt_ensure_task
)

rt_bootstrap || return 1
