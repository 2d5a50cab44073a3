"""Access control of the endpoint: its SigV4 keys (`smemu serve --auth`), the check of every
request's signature against them, and the signing of smemu's own requests."""
