# shellcheck shell=bash
# Source me (after scripts/progress.sh). `rt_apt_install PACKAGE...` installs Debian packages, so that on a bare
# Debian machine the README's two commands are all the set-up. It needs root, as that set-up says; otherwise it
# names what to install and fails.

rt_apt_install() {
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "missing: $* (install them with your package manager, or run as root on Debian)" >&2
    return 1
  fi
  # A bare machine's package lists are empty, and an old list may name versions the mirror no longer has. apt dates
  # its list files by the mirror's clock, so a stamp of our own says when they were last fetched.
  local stamp=${RT_CACHE:-$HOME/.cache/requesttasker}/apt-updated
  if [[ -z $(find "$stamp" -mmin -60 2>/dev/null) ]]; then
    rt_progress "[apt] apt-get update" apt-get update -qq || return 1
    mkdir -p "$(dirname "$stamp")" && touch "$stamp"
  fi
  rt_progress "[apt] installing $* from Debian" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" </dev/null >/dev/null
}
