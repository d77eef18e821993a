# syntax=docker/dockerfile:1
# Production image of duely: one image, three roles (`duely web`, `duely worker`,
# `duely migrate`), chosen by the command. See docker-compose.yml.

# htmx comes from npm, pinned by package-lock.json, instead of a CDN download: the build is
# reproducible and pages never load third-party script at run time.
FROM node:20-slim AS htmx
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid lets operators chown a mounted data directory predictably.
RUN groupadd --system --gid 10001 duely \
 && useradd --system --uid 10001 --gid duely --home-dir /var/lib/duely --create-home \
      --shell /usr/sbin/nologin duely

WORKDIR /src
COPY pyproject.toml README.md ./
COPY duely ./duely
# The vendored file is git-ignored, so it must come from the npm stage, before packaging
# (package-data picks up web/static/**).
COPY --from=htmx /build/node_modules/htmx.org/dist/htmx.min.js duely/web/static/vendor/htmx.min.js
# Runtime dependencies only; the source tree is dropped so nothing imports it by accident.
RUN pip install . && rm -rf /src

USER duely
WORKDIR /var/lib/duely
# Listen beyond the container's loopback; keep the fallback data directory (generated secret
# key when DUELY_SECRET_KEY is unset) somewhere this user can write.
ENV DUELY_HOME=/var/lib/duely \
    DUELY_WEB_HOST=0.0.0.0 \
    DUELY_WEB_PORT=8000
EXPOSE 8000
CMD ["duely", "web"]
