# The gateway image (also runs migrations and the ETL: `lienthong …` is its entry point).
# Build from the repository root: docker build -f infra/compose/gateway.Dockerfile .
FROM python:3.11-slim-bookworm
RUN useradd --uid 10001 --create-home lienthong
WORKDIR /app
COPY pyproject.toml README.md ./
COPY lienthong lienthong
COPY registries registries
COPY gateway gateway
COPY etl etl
COPY policies policies
COPY graphql graphql
RUN pip install --no-cache-dir . && python -m compileall -q /app
USER lienthong
ENV LIENTHONG_HOME=/var/lib/lienthong
EXPOSE 8000
ENTRYPOINT ["lienthong"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
