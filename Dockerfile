# loan-scorer: a static, non-root image of `scorer`. Builds with the classic
# builder and with BuildKit, offline too once the base images are local (no
# syntax directive: BuildKit would fetch a frontend image first).
#
#   docker build -t loan-scorer .
#
# With its own embedded NATS server (JetStream store in /data/jetstream, NATS
# listening on 127.0.0.1 inside the container only; HTTP published):
#
#   docker run --rm --stop-timeout 40 -p 127.0.0.1:8989:8989 -v scorer-data:/data loan-scorer
#
# Against a NATS server: the name nats resolves only on a user-defined
# network (not on Docker's default bridge):
#
#   docker network create loans
#   docker run -d --name nats --network loans nats:2.15.2-alpine --jetstream
#   docker run --rm --stop-timeout 40 --network loans -p 127.0.0.1:8989:8989 \
#     -e SCORER_NATS_URL=nats://nats:4222 loan-scorer
#
# --stop-timeout 40: docker stop waits 10 s by default, less than
# shutdown.timeout (30 s), and a drain cut short by SIGKILL exits 137. It also
# runs --read-only --cap-drop ALL (with /data mounted when the embedded server
# stores there). Configuration is SCORER_* variables (README); a file is
# mounted and named: -v "$PWD/scorer.yaml:/etc/scorer/scorer.yaml:ro" ... serve
# --config /etc/scorer/scorer.yaml.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO disabled: a static binary that runs on distroless/static (no libc).
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/scorer ./cmd/scorer \
 && mkdir -p /out/data/jetstream /out/data/scores

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/scorer /usr/local/bin/scorer
# /data is the only place the scorer writes: the embedded JetStream store and
# the Parquet sink's files, owned by the distroless nonroot user (65532). It
# is no VOLUME: a scorer on an external NATS writes nothing, and would leave
# an anonymous volume behind every container. Mount one where data must last.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV SCORER_HTTP_ADDR=0.0.0.0:8989 \
    SCORER_NATS_EMBEDDED_STORE_DIR=/data/jetstream
EXPOSE 8989
# `scorer health` with no URL probes /readyz on http.addr as `serve` reads it
# (SCORER_HTTP_ADDR here; 0.0.0.0 becomes 127.0.0.1), so moving the address
# moves the probe. `scorer sink parquet` serves its own /readyz on
# sink.parquet.http_addr: docker-compose.yml probes it there.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/scorer", "health"]
ENTRYPOINT ["/usr/local/bin/scorer"]
CMD ["serve"]
