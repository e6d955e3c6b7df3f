"""GraphiQL for development, served by the gateway from a bundle built by `make install`."""

from gateway.graphiql.views import graphiql_available, router

__all__ = ["graphiql_available", "router"]
