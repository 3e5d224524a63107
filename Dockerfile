# The Tidemark processor: the static binary of `make build` on an empty
# base, run as the non-root user tidemark (uid 65532). No base image is
# pulled: every file comes from the build context. See docs/deployment.md.
#
#   make image                    # make build, then deploy/container.sh image
#   podman run --rm tidemark:dev version
#
# The build context must hold (`make image` writes them):
#   bin/processor   CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" (make build)
#   bin/rootfs/     CA certificates, /etc/passwd and /etc/group with the user
#                   tidemark, /etc/tidemark, /var/lib/tidemark, /tmp
#                   (deploy/container.sh rootfs)
FROM scratch
COPY bin/rootfs/ /
# The state volume's directory belongs to the user, so a new named volume
# (which takes the directory's owner) is writable by it.
COPY --chown=65532:65532 bin/rootfs/var/lib/ /var/lib/
COPY bin/processor /usr/local/bin/processor
ENV PATH=/usr/local/bin
USER 65532:65532
WORKDIR /var/lib/tidemark
# Local state: Pebble databases, snapshots being uploaded, the newest one for
# local recovery (state.dir must be under it).
VOLUME ["/var/lib/tidemark"]
# http.listen: ":8081" (/healthz, /readyz, /api/v1/...).
EXPOSE 8081
# The configuration is a file mounted at /etc/tidemark/tidemark.yaml,
# readable by uid 65532; secrets come from the environment (${VAR} in the
# file, AWS_* for S3). On SIGTERM the processor stops its sources, takes a
# final checkpoint and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["processor"]
CMD ["run", "--config", "/etc/tidemark/tidemark.yaml"]
