# The gateway image (also runs migrations and the ETL: `lienthong …` is its entry point).
# Build from the repository root: docker build -f infra/compose/gateway.Dockerfile .
#
# Two stages. The first builds the wheel, exactly as `pip wheel --no-deps .` does on a checkout:
# setup.py copies the run-time files (SHARED in lienthong/resources.py: policies, forms, trusted
# documents, the schema, the sample policy) into the wheel's lienthong/share/. The second
# installs only that wheel: the image holds no source tree, and the code finds its files under
# site-packages (lienthong/resources.py), whatever the working directory. tests/unit/infra reads
# this file; tests/e2e/test_boot_order.py builds a wheel from the same files the first stage
# copies, installs it in a fresh virtual environment and boots it.
FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY lienthong lienthong
COPY registries registries
COPY gateway gateway
COPY etl etl
COPY policies policies
COPY graphql graphql
COPY infra/sample/policy.json infra/sample/policy.json
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

FROM python:3.11-slim-bookworm
RUN useradd --uid 10001 --create-home lienthong \
    && install -d -o lienthong -g lienthong /var/lib/lienthong
COPY --from=wheel /dist/ /tmp/dist/
RUN pip install --no-cache-dir /tmp/dist/*.whl && rm -rf /tmp/dist
USER lienthong
# State (LIENTHONG_HOME) in a directory of its own: a volume in compose, an emptyDir in k8s.
ENV LIENTHONG_HOME=/var/lib/lienthong
WORKDIR /var/lib/lienthong
EXPOSE 8000
ENTRYPOINT ["lienthong"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
