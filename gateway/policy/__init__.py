"""Policy decision point: Rego policies evaluated in-process (default) or by OPA."""
