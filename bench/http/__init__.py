"""Pieces of `python -m bench http`: the floor app, the servers it starts, the wrk runs."""
