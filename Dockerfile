# syntax=docker/dockerfile:1
# The Tidemark processor: a static Go binary on a small base, run as a
# non-root user. See docs/deployment.md.
#
#   docker build -t tidemark .
#   docker run -v tidemark-state:/var/lib/tidemark \
#     -v "$PWD/tidemark.yaml:/etc/tidemark/tidemark.yaml:ro" -p 8081:8081 tidemark

# Build on the builder's own platform; Go cross-compiles to the target.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# Modules first: a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
# Exactly the Makefile's build, which `make test` (CI) runs too:
# CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/processor ./cmd/processor
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH make build

# Alpine rather than distroless: its busybox wget lets a container
# healthcheck call /healthz (the processor has no such subcommand).
FROM alpine:3.22
RUN apk add --no-cache ca-certificates \
	&& addgroup -S -g 65532 tidemark \
	&& adduser -S -D -H -u 65532 -G tidemark -h /var/lib/tidemark tidemark \
	&& mkdir -p /etc/tidemark /var/lib/tidemark \
	&& chown tidemark:tidemark /var/lib/tidemark
COPY --from=build /src/bin/processor /usr/local/bin/processor
USER 65532:65532
WORKDIR /var/lib/tidemark
# Local state: Pebble databases, snapshots being uploaded, the newest one for
# local recovery (state.dir must be under it). A new named volume takes this
# directory's owner, so the non-root user can write it.
VOLUME ["/var/lib/tidemark"]
# http.listen: ":8081" (/healthz, /readyz, /api/v1/checkpoints).
EXPOSE 8081
# The configuration is a file mounted at /etc/tidemark/tidemark.yaml; secrets
# come from the environment (${VAR} in the file, AWS_* for S3). On SIGTERM the
# processor stops its sources, takes a final checkpoint and exits 0.
ENTRYPOINT ["processor"]
CMD ["run", "--config", "/etc/tidemark/tidemark.yaml"]
