# shellcheck shell=bash
# Helpers shared by scripts/test and scripts/demo. Source it; don't run it.

# Prints a step header.
step() {
    printf '\n\033[1m==> %s\033[0m\n' "$*"
}

# Prints a message on stderr and exits.
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Runs a command as root: directly when root, else with sudo when available.
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# Installs Debian packages, running `apt-get update` once per script run.
apt_install() {
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get is not available: install $* yourself"
    if [[ -z "${APT_UPDATED:-}" ]]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# Installs the Debian package `$2` unless /usr/bin/python3 (or $3) can
# import the Python module `$1`.
ensure_python_module() {
    local module="$1" package="$2" py="${3:-/usr/bin/python3}"
    if [[ -x "$py" ]] && "$py" -c "import $module" >/dev/null 2>&1; then
        return 0
    fi
    echo "$module not found: installing the Debian package $package"
    apt_install "$package"
}

# The memcached binary to use: $MEMCACHED_BIN, else memcached on PATH.
memcached_bin() {
    if [[ -n "${MEMCACHED_BIN:-}" ]]; then
        printf '%s\n' "$MEMCACHED_BIN"
    else
        command -v memcached
    fi
}

# Installs the Debian package `memcached` when no memcached binary is found.
# MEMCACHED_BIN, when set, is trusted and nothing is installed.
ensure_memcached() {
    if [[ -n "${MEMCACHED_BIN:-}" ]]; then
        [[ -x "$MEMCACHED_BIN" ]] || command -v "$MEMCACHED_BIN" >/dev/null 2>&1 ||
            die "MEMCACHED_BIN=$MEMCACHED_BIN is not an executable"
        return 0
    fi
    if command -v memcached >/dev/null 2>&1; then
        return 0
    fi
    echo "memcached not found: installing the Debian package memcached"
    apt_install memcached
    command -v memcached >/dev/null 2>&1 || die "memcached still not on PATH after installing it"
}

# Debian's python3-pylibmc (libmemcached's Python binding): the
# interoperability tests run it.
ensure_pylibmc() {
    ensure_python_module pylibmc python3-pylibmc "${PYLIBMC_PYTHON:-/usr/bin/python3}"
}

# Debian's python3-pymemcache: tests/tests/cache_python.rs shares values
# with it.
ensure_pymemcache() {
    ensure_python_module pymemcache python3-pymemcache "${PYMEMCACHE_PYTHON:-/usr/bin/python3}"
}

# The twemproxy binary: $NUTCRACKER_BIN, else nutcracker on PATH or in
# /usr/sbin (where Debian puts it).
nutcracker_bin() {
    if [[ -n "${NUTCRACKER_BIN:-}" ]]; then
        printf '%s\n' "$NUTCRACKER_BIN"
    elif command -v nutcracker >/dev/null 2>&1; then
        command -v nutcracker
    elif [[ -x /usr/sbin/nutcracker ]]; then
        printf '%s\n' /usr/sbin/nutcracker
    else
        return 1
    fi
}

# Installs Debian's nutcracker (twemproxy) when it is missing:
# tests/tests/twemproxy.rs runs memwire's clients through it.
ensure_nutcracker() {
    if nutcracker_bin >/dev/null; then
        return 0
    fi
    echo "nutcracker not found: installing the Debian package nutcracker"
    apt_install nutcracker
    nutcracker_bin >/dev/null || die "nutcracker still not found after installing it"
}

# Installs the rustfmt and clippy components when cargo lacks them.
ensure_rust_tools() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs)"
    if ! cargo fmt --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 || die "cargo fmt missing and rustup not found"
        rustup component add rustfmt
    fi
    if ! cargo clippy --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 || die "cargo clippy missing and rustup not found"
        rustup component add clippy
    fi
}

# Installs cargo-fuzz when missing, and a C++ compiler (libfuzzer-sys builds
# libFuzzer from C++ sources).
ensure_cargo_fuzz() {
    if ! command -v c++ >/dev/null 2>&1 && ! command -v clang++ >/dev/null 2>&1; then
        echo "no C++ compiler: installing the Debian package g++"
        apt_install g++
    fi
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "cargo-fuzz not found: installing it"
        cargo install cargo-fuzz --locked
    fi
}

# Prints a loopback TCP port that is free right now.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
        return
    fi
    local port
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        # A refused connection means nothing listens there.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "no free loopback port found"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_answers() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
