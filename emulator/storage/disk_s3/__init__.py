"""An S3 server that keeps objects on disk and streams them: the endpoint's embedded S3."""
