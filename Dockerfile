# One image for both apps; docker-compose.yml picks the entry point per service.
FROM node:24-slim AS build
WORKDIR /app
RUN npm install -g pnpm@10
# Manifests first, so the dependency layer is reused until a lockfile changes.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY patches patches
COPY apps/server/package.json apps/server/
COPY apps/tasker/package.json apps/tasker/
COPY packages/domain/package.json packages/domain/
COPY packages/application/package.json packages/application/
COPY packages/infrastructure/package.json packages/infrastructure/
COPY packages/client/package.json packages/client/
COPY packages/contract/package.json packages/contract/
COPY apps/cli/package.json apps/cli/
# Every workspace project's manifest, or the frozen lockfile would not match; what tests and bench install (dev
# dependencies only) is pruned by the --prod install below.
COPY tests/package.json tests/
COPY bench/package.json bench/
RUN pnpm install --frozen-lockfile
COPY tsconfig.base.json tsconfig.json ./
COPY apps apps
COPY packages packages
RUN pnpm exec tsc -b && pnpm install --frozen-lockfile --prod --ignore-scripts

FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
COPY migrations migrations
# The server serves the contract (GET /openapi.json, /docs) from the file its types were generated from.
COPY openapi.yaml openapi.yaml
USER node
CMD ["node", "apps/server/dist/start.js"]
