# presencecloud container image.
#
#   docker build -t presencecloud .                      # the server (last stage)
#   docker build --target sipp -t presencecloud-sipp .   # SIPp and the scenarios
#
# Stages: "build" compiles the release binary with the official Rust image;
# "sipp" is the load generator docker-compose.yml runs; "runtime" (the
# default target) is the server on a slim Debian, as a non-root user.
# See docs/operations.md for running it.

# ---- build -------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
# Only what the build reads; .dockerignore keeps target/, .git and secrets out.
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY migrations ./migrations
COPY benches ./benches
RUN cargo build --release --locked --bin presencecloud \
    && install -m 0755 target/release/presencecloud /usr/local/bin/presencecloud

# ---- sipp: SIPp (Debian's sip-tester) with the scenarios of sipp-scenarios/ ---
FROM debian:bookworm-slim AS sipp
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends sip-tester \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10002 --home-dir /opt/presencecloud --shell /usr/sbin/nologin sipp
COPY sipp-scenarios/ /opt/presencecloud/sipp-scenarios/
COPY deploy/sipp-run.sh /usr/local/bin/sipp-run
RUN chmod 0755 /usr/local/bin/sipp-run /opt/presencecloud/sipp-scenarios/*.sh
USER sipp
WORKDIR /opt/presencecloud
ENTRYPOINT ["/usr/local/bin/sipp-run"]

# ---- runtime: the server ------------------------------------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/presencecloud \
        --create-home --shell /usr/sbin/nologin presencecloud
COPY --from=build /usr/local/bin/presencecloud /usr/local/bin/presencecloud
COPY presencecloud.example.toml /usr/share/doc/presencecloud/presencecloud.example.toml
# The SQLite store of the default command lives here.
VOLUME ["/var/lib/presencecloud"]
WORKDIR /var/lib/presencecloud
USER presencecloud:presencecloud
# SIP (UDP and TCP), inter-node links (--cluster), admin HTTP (--admin).
EXPOSE 5060/udp 5060/tcp 7000/tcp 8080/tcp
# /healthz answers 200 "ok" while the node is up. The default command binds
# admin to the container's loopback, which this check reaches and nothing
# outside does; a command that binds it beyond loopback sets
# PRESENCECLOUD_ADMIN_TOKEN (see docs/operations.md).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS --max-time 2 http://127.0.0.1:8080/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/presencecloud"]
# One node with SQLite in the volume. Override the command (after the image
# name) to give other flags: docker run IMAGE run --help.
CMD ["run", "--sip", "udp:0.0.0.0:5060", "--sip", "tcp:0.0.0.0:5060", \
     "--admin", "127.0.0.1:8080", \
     "--db", "sqlite:///var/lib/presencecloud/presencecloud.db"]
