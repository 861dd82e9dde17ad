# vaultline as one compiled binary on the official Deno image, run as the image's non-root user.
#   docker build -t vaultline .
#   docker run --rm vaultline --help
ARG DENO_VERSION=2.9.6

FROM denoland/deno:${DENO_VERSION} AS build
WORKDIR /src
# Dependencies first, so a code change does not download them again.
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY main.ts ./
COPY lib lib
COPY sql sql
# deno compile fetches its runtime base (denort) here, where the network allows it.
RUN deno task compile && ./vaultline --help > /dev/null

FROM denoland/deno:${DENO_VERSION}
COPY --from=build /src/vaultline /usr/local/bin/vaultline
# Mount points for the keyrings, owned by the runtime user so named volumes inherit it.
RUN mkdir -p /keys/ingest /keys/full && chown -R deno:deno /keys
USER deno
WORKDIR /home/deno
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch('http://127.0.0.1:9464/healthz'); Deno.exit(r.ok ? 0 : 1)"]
ENTRYPOINT ["vaultline"]
CMD ["run", "--http", "0.0.0.0:9464"]
