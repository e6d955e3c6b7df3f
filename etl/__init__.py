"""ETL: synthetic sources, readers, validation, staging and merge into the registries."""
