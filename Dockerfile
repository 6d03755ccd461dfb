# The wharf registry server. Build: docker build -t wharf .
# Run:   docker run -p 5000:5000 -v wharf-data:/var/lib/registry wharf
# The configuration is packages/server/container/config.yml (mount another at /etc/wharf/config.yml,
# or override keys with REGISTRY_* variables). Health at /healthz and /readyz; metrics on :5001.

FROM node:22-bookworm-slim AS build
WORKDIR /src
RUN npm install -g pnpm@10.34.9
COPY . .
# One self-contained directory: the server and every dependency bundled, no node_modules.
RUN pnpm install --frozen-lockfile \
  && WHARF_BUNDLE_ALL=1 WHARF_BUNDLE_OUT=/opt/wharf pnpm --filter @wharf/server build

FROM node:22-bookworm-slim
COPY --from=build /opt/wharf /opt/wharf
COPY packages/server/container/config.yml /etc/wharf/config.yml
RUN mkdir -p /var/lib/registry && chown node:node /var/lib/registry
ENV REGISTRY_CONFIGURATION_PATH=/etc/wharf/config.yml NODE_ENV=production
USER node
VOLUME /var/lib/registry
EXPOSE 5000 5001
HEALTHCHECK CMD ["node", "-e", "fetch('http://127.0.0.1:5000/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/opt/wharf/cli.js"]
CMD ["serve"]
