# Multi-stage build: a static (musl) binary in a distroless, non-root image.
# Not buildable on the project's development machines (no Docker engine);
# kept simple so it is correct by reading.
FROM rust:1.95-alpine AS build
# make: jemalloc (the allocator) is built from source.
RUN apk add --no-cache musl-dev make
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin workspace-operator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/release/workspace-operator /workspace-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/workspace-operator"]
CMD ["run", "--metrics-addr=0.0.0.0:8080"]
