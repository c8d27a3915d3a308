# syntax=docker/dockerfile:1
# leakpatrol operator image: build the wheels in one stage, install them into a slim runtime that
# runs as a non-root numeric user (so runAsNonRoot can verify it) with nothing but the wheels.
# Every runtime dependency is pinned by requirements/runtime.txt (`make lock` regenerates it from
# pyproject.toml): two builds of one commit install the same versions.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
# Only what the package build reads: a change elsewhere (tests, charts) does not rebuild the wheels.
COPY requirements/runtime.txt ./requirements.txt
RUN pip wheel --no-cache-dir --wheel-dir /wheels --requirement requirements.txt
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels/app . \
    && cp requirements.txt /wheels/

FROM ${PYTHON_IMAGE}
# No .pyc writes: the chart mounts the root filesystem read-only.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The pinned dependencies first, then leakpatrol itself with --no-deps: nothing unpinned gets in.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels --requirement /wheels/requirements.txt \
    && pip install --no-cache-dir --no-index --no-deps /wheels/app/*.whl \
    && useradd --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin leakpatrol
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["leakpatrol", "operator"]
