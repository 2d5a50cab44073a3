"""The emulator's exceptions: one root, and one class per AWS error code (moto's pattern)."""

from __future__ import annotations


class EmulatorError(Exception):
    """Root of every error the emulator raises on purpose."""


class AwsError(EmulatorError):
    """An error that goes on the wire as an AWS JSON 1.1 error body."""

    code: str = "InternalFailure"
    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_wire(self) -> dict[str, str]:
        return {"__type": self.code, "message": self.message}


class ValidationException(AwsError):
    code = "ValidationException"


class SerializationException(ValidationException):
    """The body does not deserialize into the input shape (the service's own code for it)."""

    code = "SerializationException"


class ResourceInUse(AwsError):
    code = "ResourceInUse"


class ResourceNotFound(AwsError):
    code = "ResourceNotFound"


class ResourceLimitExceeded(AwsError):
    code = "ResourceLimitExceeded"


class UnknownOperationException(AwsError):
    code = "UnknownOperationException"


class ServiceUnavailable(AwsError):
    code = "ServiceUnavailable"
    status = 503


class InternalFailure(AwsError):
    code = "InternalFailure"
    status = 500


class ContainerStartError(EmulatorError):
    """The engine refused to start the training container (a problem of the image)."""


class JobClientError(EmulatorError):
    """The job cannot run because of what the user gave it (a ClientError on SageMaker)."""


class DockerUnavailable(EmulatorError):
    """No Docker engine answers."""


class AddressPoolsExhausted(EmulatorError):
    """Docker has no free address pool left for another network."""


class ImageMissing(EmulatorError):
    """The training image is not in the local engine."""


class EndpointUnavailable(EmulatorError):
    """The local endpoint does not answer."""


class CheckpointError(EmulatorError):
    """A checkpoint could not be restored or mirrored without risking data."""


class InvalidS3Uri(ValidationException, CheckpointError):
    """A string that is not an ``s3://bucket/prefix`` URI: a ValidationException on the wire,
    a CheckpointError to the checkpoint engine."""


class PlanError(EmulatorError):
    """An interruption plan could not be parsed."""


class S3FaultSpecError(EmulatorError, ValueError):
    """An S3 fault SPEC (`--s3-faults`, the `smemu:s3-faults` tag) could not be parsed."""
