# syntax=docker/dockerfile:1

# --- build: install everything, compile TypeScript, then drop the dev dependencies --------
FROM node:22-bookworm-slim AS build
WORKDIR /app

COPY package.json package-lock.json tsconfig*.json ./
COPY packages ./packages
COPY src ./src
COPY migrations ./migrations
COPY pages ./pages

# `npm ci` runs the package's `prepare` script, which builds dist/ with tsc.
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime -------------------------------------------------------------------------------
FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app

# Application files stay owned by root: the service user can read but not modify them.
COPY --from=build /app/node_modules ./node_modules
# The verifier kit is a workspace package: node_modules/@authd/verifier links to it.
COPY --from=build /app/packages ./packages
COPY --from=build /app/dist ./dist
COPY --from=build /app/migrations ./migrations
# The hosted sign-in and account pages are read from files at start; without them the start fails.
COPY --from=build /app/pages ./pages
COPY --from=build /app/package.json ./package.json

# Signing keys live here; mount a volume on it to keep them across container restarts.
# A new named volume takes this directory's owner and mode.
RUN mkdir -p /var/lib/authd/keys \
 && chown node:node /var/lib/authd/keys \
 && chmod 700 /var/lib/authd/keys

USER node
EXPOSE 3000
CMD ["node", "dist/src/cli/main.js", "serve"]
