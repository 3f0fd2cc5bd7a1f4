# ringway in a container:
#   docker build -t ringway .
#   docker run --rm -p 8000:8000 -v $PWD/config/front-proxy.yaml:/etc/ringway/ringway.yaml:ro ringway
# Docker's default seccomp profile blocks the io_uring syscalls: ringway then
# logs the fallback and runs on epoll. To use io_uring, run with a seccomp
# profile that allows io_uring_setup/io_uring_enter/io_uring_register (or
# --security-opt seccomp=unconfined where that is acceptable).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/ringway

FROM debian:bookworm-slim
COPY --from=build /src/target/release/ringway /usr/local/bin/ringway
COPY config/front-proxy.yaml /etc/ringway/ringway.yaml
USER nobody
EXPOSE 8000 8001
# The admin endpoint must listen on 0.0.0.0 inside a container to be reachable
# through -p; ringway warns about that at start. Publish it to loopback only:
# -p 127.0.0.1:8001:8001.
ENTRYPOINT ["/usr/local/bin/ringway"]
CMD ["run", "/etc/ringway/ringway.yaml"]
