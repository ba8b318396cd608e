# The rollout controller image (deploy/controller.yaml runs it as `rollout controller
# --platform kubernetes --leader-elect`). Runs as the non-root user 65532 on a
# read-only root filesystem: nothing is written at runtime, bytecode included.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY rollout ./rollout
# The package and its runtime dependencies only (no dev extras); pip compiles the
# bytecode now, while the filesystem is still writable.
RUN pip install --no-compile . \
    && python -m compileall -q "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && rm -rf /src \
    && groupadd --gid 65532 rollout \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin rollout

WORKDIR /
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["rollout"]
CMD ["--help"]
