# syntax=docker/dockerfile:1
#
# goroscope as a container image: one static binary (musl), nothing else,
# running as an unprivileged user. Build from the repository root:
#
#   docker build -t goroscope:0.1.0 .
#
# README "Container image" says how this file is checked without Docker.

# --- build: a static x86_64 binary -----------------------------------------
FROM rust:1-bookworm AS build
RUN rustup target add x86_64-unknown-linux-musl \
 && apt-get update \
 && apt-get install -y --no-install-recommends musl-tools=1.2.3-1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The demo's Go sources are embedded in the binary; Go itself is not needed
# to build it (only `goroscope demo` needs Go, at run time).
RUN cargo build --release --locked --target x86_64-unknown-linux-musl -p goroscope \
 && install -m 0755 target/x86_64-unknown-linux-musl/release/goroscope /goroscope \
 && /goroscope --version

# --- run: the binary alone ---------------------------------------------------
# No shell, no package manager, no CA bundle (TLS roots are compiled in).
FROM scratch
COPY --from=build /goroscope /goroscope
# 65532: the conventional "nonroot" uid; Kubernetes' runAsNonRoot accepts a
# numeric USER only.
USER 65532:65532
EXPOSE 9091
ENTRYPOINT ["/goroscope"]
# Listen on every interface inside the pod network namespace: Prometheus
# scrapes the pod's IP. The targets come from the mounted config.
CMD ["serve", "--config", "/etc/goroscope/goroscope.yaml", "--listen", "0.0.0.0:9091"]
