"""smemu: run SageMaker training containers locally.

Checkpoints are mirrored to S3 and managed-spot interruptions are injected on purpose.
"""

__version__ = "0.1.0"
