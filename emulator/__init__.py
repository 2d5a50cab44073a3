"""smemu: run SageMaker training containers locally, with checkpoints mirrored to S3 and spot interruptions injected."""

__version__ = "0.1.0"
