"""Agency documents: GraphQL documents an agency may run, as managed data."""
