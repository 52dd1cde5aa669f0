#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need,
# then runs formatting and lint checks, every test, and a bounded fuzz run.
# README.md and .ci/run both call exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# Tools the tests need: SIPp (Debian's sip-tester) and cargo-fuzz.
if ! command -v sipp >/dev/null 2>&1; then
    step "installing sip-tester (SIPp)"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y sip-tester \
        || { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y sip-tester; }
fi
# Kamailio serves b.example in the interop test (tests/kamailio.rs); db_text,
# which its presence module needs, comes with the kamailio package.
if ! command -v kamailio >/dev/null 2>&1 && [ ! -x /usr/sbin/kamailio ]; then
    step "installing kamailio and kamailio-presence-modules"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y kamailio kamailio-presence-modules \
        || { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y kamailio kamailio-presence-modules; }
fi
# docker-compose checks docker-compose.yml (tests/deploy.rs); no engine needed.
if ! command -v docker-compose >/dev/null 2>&1; then
    step "installing docker-compose"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose \
        || { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose; }
fi
# Headless Chromium loads the admin dashboard (tests/dashboard.rs).
if [ ! -x /usr/bin/chromium ]; then
    step "installing chromium"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
        || { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    step "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings

step "tests (unit, integration, grammar, RFC 4475 on the wire, SIPp, doc, bench smoke)"
cargo test --all-targets
cargo test --doc

# Bounded fuzzing of the SIP parser: 60 s or one million inputs, whichever
# comes first. libFuzzer exits non-zero on any crash, leak or assertion.
step "fuzzing the parser (60 s or 1,000,000 inputs)"
# cargo fuzz runs the target from fuzz/, so corpus paths are absolute.
root="$PWD"
mkdir -p fuzz/corpus/parse_message
RUSTC_BOOTSTRAP=1 cargo fuzz run parse_message "$root/fuzz/corpus/parse_message" \
    "$root/tests/data/corpus" "$root/tests/data/rfc4475" "$root/tests/data/rfc-examples/wire" \
    -- -max_total_time=60 -runs=1000000 -max_len=8192 -print_final_stats=1

step "all tests passed"
