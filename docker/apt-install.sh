# Sourced by the install scripts. apt_install NAME PACKAGE...: installs Debian packages quietly
# (through sudo when not root); if the install fails, prints apt's output and then
# "NAME: installing PACKAGE... failed" on stderr, and returns 1.

apt_install() {
    local name=$1
    shift
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        sudo=sudo
    fi
    local log
    log=$(mktemp)
    export DEBIAN_FRONTEND=noninteractive
    if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends \
            "$@"; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "$name: installing $* failed" >&2
        return 1
    fi
    rm -f "$log"
}
