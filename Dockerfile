# syntax=docker/dockerfile:1
# loan-scorer: a static, non-root image of `scorer`.
#   docker build -t loan-scorer .
#   docker run --rm -p 127.0.0.1:8989:8989 -e SCORER_NATS_URL=nats://nats:4222 loan-scorer
# Without SCORER_NATS_URL the scorer starts its embedded NATS server (store
# in /data/jetstream, listening on 127.0.0.1 inside the container only).

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
COPY --from=build /src/configs/scorer.yaml /etc/scorer/scorer.yaml
# /data is the only writable place: the embedded JetStream store and the
# Parquet sink's files. Owned by the distroless nonroot user (65532).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV SCORER_HTTP_ADDR=0.0.0.0:8989 \
    SCORER_NATS_EMBEDDED_STORE_DIR=/data/jetstream
EXPOSE 8989
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/scorer", "health", "http://127.0.0.1:8989/readyz"]
ENTRYPOINT ["/usr/local/bin/scorer"]
CMD ["serve"]
