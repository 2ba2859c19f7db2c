# ptyhub: one instance per container. See docker-compose.yml for two instances, Redis and
# a load balancer, and docs/architecture.md for what an instance needs around it.
#
# One stage on purpose: the shells users get run in this image (bash, git, curl, ...
# come with node:20-bookworm), and `npm run user:add` / `npm run inspect` run from the
# sources with tsx, a dev dependency.
FROM node:20-bookworm

# Build tools for native modules (node-pty; better-sqlite3 when no prebuilt binary fits).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, so source changes do not reinstall them. (The stub is a local
# package that package.json's overrides point to; see README "Quick start".)
COPY package.json package-lock.json ./
COPY scripts/stubs ./scripts/stubs
RUN npm ci --no-audit --no-fund

COPY . .
# Prisma client, server (tsc -> dist/server) and browser client (vite -> dist/client).
RUN npm run build

# The code stays root-owned and read-only for the user the server (and every shell it
# starts) runs as. /data holds the SQLite database; a named volume mounted there starts
# with this ownership.
# /run/ptyhub holds the pty host's socket: a volume shared by the host's container and
# the web server's (see docker-compose.yml).
RUN mkdir -p /data /run/ptyhub && chown node:node /data /run/ptyhub

# No NODE_ENV: ptyhub does not read it, and users' shells inherit the environment.
ENV HOST=0.0.0.0 \
    PORT=3000 \
    DATABASE_URL=file:/data/ptyhub.db \
    PTY_HOST_SOCKET=/run/ptyhub/host.sock

USER node
EXPOSE 3000

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# The web server; it starts the pty host (the shells' process) itself when none answers.
# docker-compose.yml runs the host as a service of its own instead
# (`node dist/server/pty-host/main.js`), so recreating this container ends no terminal.
# node handles SIGTERM itself (graceful shutdown). Run with an init process
# (`docker run --init`, compose `init: true`) so exited background processes of users'
# shells are reaped.
CMD ["node", "dist/server/main.js"]
