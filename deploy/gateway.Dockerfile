# The gateway alone, compiled (no tsx at run time). Build context: the repository root.
#   docker build -f deploy/gateway.Dockerfile -t hazardwatch-gateway .
#   docker run -v hw-gateway:/var/lib/hazardwatch hazardwatch-gateway \
#     --server https://platform.example --token hwe_...        (first start: enrolment)
#   docker run -v hw-gateway:/var/lib/hazardwatch hazardwatch-gateway   (later starts)
# Modbus RTU: add --device /dev/ttyUSB0 (and --group-add dialout).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY protocol protocol
COPY common common
COPY gateway gateway
COPY edge edge
COPY server server
COPY simulators simulators
COPY bin bin
COPY deploy/build deploy/build
RUN npm run build

FROM node:20-bookworm-slim
WORKDIR /opt/hazardwatch
COPY package.json package-lock.json ./
# better-sqlite3 ships prebuilt binaries for Node 20 on linux-x64/arm64 (glibc).
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /src/dist dist
RUN mkdir -p /var/lib/hazardwatch && chown node:node /var/lib/hazardwatch
USER node
ENV NODE_ENV=production HAZARDWATCH_DATA_DIR=/var/lib/hazardwatch
VOLUME ["/var/lib/hazardwatch"]
ENTRYPOINT ["node", "dist/gateway/main.js", "--data-dir", "/var/lib/hazardwatch"]
