"""Limits that hold across processes and replicas: request rates and daily disclosure quotas,
leased from PostgreSQL in slices and spent locally."""
