# Build stage: compile TypeScript (the socket.io-live-session workspace first, then the server).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/socket.io-live-session/package.json ./packages/socket.io-live-session/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY packages/socket.io-live-session ./packages/socket.io-live-session
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies, the built package and the compiled server only.
FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/socket.io-live-session/package.json ./packages/socket.io-live-session/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/packages/socket.io-live-session/dist ./packages/socket.io-live-session/dist
COPY --from=build /app/dist ./dist
COPY views ./views
COPY public ./public
USER node
EXPOSE 3000
CMD ["node", "dist/src/server.js"]
