# A small image with one static sluice binary (musl; SQLite and TLS compiled in), for AWS Batch, ECS
# or any container scheduler. See docs/operations.md for the Batch job definition.
#
#   docker build -t sluice .
#   docker run --rm -v "$PWD:/work" -w /work sluice run jobs/examples/daily_revenue.toml
#
# The binary reads S3 settings from the usual AWS environment (on Batch/ECS, the task role's
# credentials arrive through AWS_CONTAINER_CREDENTIALS_RELATIVE_URI).

FROM rust:1.95-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
# Symbols stripped: the binary is then a fraction of the size (release keeps them for profiling).
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin sluice \
    && cp target/x86_64-unknown-linux-musl/release/sluice /sluice \
    && /sluice --version \
    && mkdir /data

# distroless/static: CA certificates, /etc/passwd with `nonroot`, tzdata; no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /sluice /usr/local/bin/sluice
COPY --from=build --chown=65532:65532 /data /data
# The catalog and spill files go to /data unless a job says otherwise; mount a volume there.
ENV SLUICE_CATALOG=/data/sluice-catalog.db \
    SLUICE_SPILL_DIR=/tmp \
    SLUICE_LOG_FORMAT=json
WORKDIR /data
# Cluster roles (docs/cluster.md): scheduler 50050; executor data 50051 and control 50052.
EXPOSE 50050 50051 50052
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["--help"]
