"""Names and texts of the SageMaker training contract, in one place.

Sources: ../shared/sagemaker-contract.md (botocore model, SageMaker developer guide,
SageMaker Python SDK, sagemaker-training toolkit).
"""

from __future__ import annotations

from enum import Enum

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"  # moto's account, so ARNs match what moto serves
DEFAULT_ROLE_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/SageMakerRole"
DEFAULT_PORT = 4590

# Container paths.
OPT_ML = "/opt/ml"
INPUT_DIR = "/opt/ml/input"
CONFIG_DIR = "/opt/ml/input/config"
DATA_DIR = "/opt/ml/input/data"
MODEL_DIR = "/opt/ml/model"
OUTPUT_DIR = "/opt/ml/output"
OUTPUT_DATA_DIR = "/opt/ml/output/data"
FAILURE_FILE = "failure"  # under OUTPUT_DIR
DEFAULT_CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints/"
DEFAULT_TENSORBOARD_LOCAL_PATH = "/opt/ml/output/tensorboard"
TRAIN_COMMAND = "train"

HYPERPARAMETERS_FILE = "hyperparameters.json"
RESOURCECONFIG_FILE = "resourceconfig.json"
INPUTDATACONFIG_FILE = "inputdataconfig.json"
CHECKPOINTCONFIG_FILE = "checkpointconfig.json"

ENV_JOB_NAME = "TRAINING_JOB_NAME"
ENV_JOB_ARN = "TRAINING_JOB_ARN"
ENV_REGION = "AWS_REGION"

FAILURE_REASON_MAX = 1024
MODEL_TAR = "model.tar.gz"
OUTPUT_TAR = "output.tar.gz"

LOG_GROUP = "/aws/sagemaker/TrainingJobs"

# Spot interruption: SIGTERM, then SIGKILL after this many seconds (UNCONFIRMED, configurable).
DEFAULT_GRACE_PERIOD_S = 120.0
# Billable = training * ratio for spot jobs (AWS does not publish it; configurable).
DEFAULT_SPOT_PRICE_RATIO = 0.3
DEFAULT_MAX_RUNTIME_S = 86400
# When the endpoint stops (SIGTERM, Ctrl-C, `smemu down`), its running jobs get StopTrainingJob
# with their grace period cut to this budget (Kubernetes' default termination grace); then their
# checkpoints and models are uploaded, for at most SHUTDOWN_UPLOAD_ALLOWANCE_S more.
DEFAULT_SHUTDOWN_BUDGET_S = 30.0
SHUTDOWN_UPLOAD_ALLOWANCE_S = 60.0
# A job's checkpoint mirror uploads a file this long after it was closed or renamed into place
# (UNCONFIRMED: AWS does not say how soon its agent uploads). A temp file renamed away within
# it (write checkpoint.json.tmp, rename it to checkpoint.json) is never uploaded nor counted.
CHECKPOINT_SETTLE_S = 0.2
# One host's spot instance reclaimed (trigger option host=): how long the other hosts run on
# before SageMaker stops the job (UNCONFIRMED; the trigger option peers= changes it).
DEFAULT_PEER_STOP_DELAY_S = 5.0


class JobStatus(str, Enum):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    DELETING = "Deleting"


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED})


class SecondaryStatus(str, Enum):
    STARTING = "Starting"
    PENDING = "Pending"
    DOWNLOADING = "Downloading"
    TRAINING = "Training"
    INTERRUPTED = "Interrupted"
    UPLOADING = "Uploading"
    RESTARTING = "Restarting"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
    MAX_WAIT_TIME_EXCEEDED = "MaxWaitTimeExceeded"


class DataDistribution(str, Enum):
    """S3DataDistributionType: how a channel is spread over the hosts."""

    FULLY_REPLICATED = "FullyReplicated"  # every host gets all of it
    SHARDED_BY_S3_KEY = "ShardedByS3Key"  # each host gets its share of the keys


class Msg:
    """StatusMessage texts as AWS writes them (those marked UNCONFIRMED are ours)."""

    LAUNCHING = "Launching requested ML instances"
    PREPARING = "Preparing the instances for training"
    DOWNLOADING = "Downloading input data"
    TRAINING = "Training image download completed. Training in progress."
    UPLOADING = "Uploading generated training model"
    COMPLETED = "Training job completed"
    FAILED = "Training job failed"  # followed by the reason
    STOPPING = "Stopping the training job"
    STOPPED = "Training job stopped"
    RESTARTING = "Restarting the training job after a spot interruption"  # UNCONFIRMED
    RETRYING = "Retrying the training job after an internal error"  # UNCONFIRMED
    INTERRUPTED = "Training job interrupted: the spot instance was reclaimed"  # UNCONFIRMED
    MAX_RUNTIME = "Training job stopped because it exceeded MaxRuntimeInSeconds"  # UNCONFIRMED
    MAX_WAIT = (  # UNCONFIRMED
        "Training job stopped because it exceeded MaxWaitTimeInSeconds while waiting for "
        "spot capacity or training"
    )


def training_job_arn(name: str, region: str = DEFAULT_REGION,
                     account: str = DEFAULT_ACCOUNT) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:training-job/{name.lower()}"


def duplicate_job_message(arn: str) -> str:
    return (
        "Training job names must be unique within an AWS account and region, and a training "
        f"job with this name already exists ({arn})"
    )


# A training job that does not exist, worded per operation as SageMaker words it.
# DescribeTrainingJob: ValidationException "Requested resource not found." is what the real
# service answers (boto/boto3#2808, aws/aws-sdk#165), although botocore's model lists
# ResourceNotFound for it. StopTrainingJob and DeleteTrainingJob: ResourceNotFound, the only
# error botocore's model and the API reference list for them; no public record shows the real
# text, so it is UNCONFIRMED and in the style of SageMaker's other ResourceNotFound texts
# ("Amazon SageMaker can't find a tuning job called X. ...": DescribeHyperParameterTuningJob,
# aws/amazon-sagemaker-examples#1540; "... can't find an AutoML job called X.": #2244).
NOT_FOUND_MESSAGE = "Requested resource not found."


def job_not_found_message(name: str) -> str:
    return f"Amazon SageMaker can't find a training job called {name}."


# FailureReason of a job whose host failed with no retry left (SageMaker's words for its own
# faults), then which host and trigger.
INTERNAL_FAILURE = "InternalServerError: We encountered an internal error. Please try again."



def s3_unavailable_reason(what: str, wait: float, error: str) -> str:
    """FailureReason of a job whose checkpoints or model S3 did not take before `smemu:s3-wait`
    ran out. SageMaker's words for it are those of its own faults: a job that spent an hour
    Uploading, its checkpoints not synced, ended with INTERNAL_FAILURE (huggingface/transformers
    #11390); the rest is smemu's (UNCONFIRMED)."""
    return (f"{INTERNAL_FAILURE} (smemu: {what}, S3 still failing after {wait:g}s of retries "
            f"(smemu:s3-wait): {error})")[:FAILURE_REASON_MAX]


MAX_WAIT_WITHOUT_SPOT = (
    "Invalid MaxWaitTimeInSeconds. It is only supported when EnableManagedSpotTraining "
    "is set to true"
)


def stop_finished_job_message(status: str) -> str:
    return f"The request was rejected because the training job is in status {status}."
