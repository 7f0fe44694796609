# The orchestrator image: one static binary on a distroless base, run as a non-root user.
#   docker build -t orchestrator:local .
#   docker run --rm orchestrator:local config      # prints the effective settings, secrets masked
# The SQL migrations are embedded in the binary; nothing else is copied.

# ---- build ----------------------------------------------------------------------------------
# Must satisfy the go directive of go.mod (GOTOOLCHAIN=local refuses to download another one).
FROM golang:1.26.8-bookworm AS build

WORKDIR /src
ENV CGO_ENABLED=0 \
    GOTOOLCHAIN=local \
    GOFLAGS=-buildvcs=false

# Modules first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w" -o /out/orchestrator .

# ---- runtime --------------------------------------------------------------------------------
# No shell, no package manager: healthchecks use `orchestrator healthcheck --url …`.
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /out/orchestrator /orchestrator

# DATA_DIR defaults to .data, relative to this writable home directory.
WORKDIR /home/nonroot
USER nonroot:nonroot

# 8080: API (HTTP_ADDR); 9090: worker health and metrics (WORKER_HTTP_ADDR).
EXPOSE 8080 9090
ENTRYPOINT ["/orchestrator"]
CMD ["api"]
