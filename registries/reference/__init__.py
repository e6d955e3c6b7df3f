"""Reference data: administrative units, ethnic groups, land-use categories, VSIC business lines."""
