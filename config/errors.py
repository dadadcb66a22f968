"""The project's exceptions: one base class, each an expected failure with a message a user can act on."""


class LakehouseError(Exception):
    """Base of every expected failure; entry points print its message on one line and exit non-zero."""

    exit_code = 2


class ConfigError(LakehouseError):
    """A setting, the catalog or a command-line option is wrong."""


class BrokerUnavailableError(LakehouseError):
    """The Kafka broker cannot be reached."""


class KafkaSecurityError(BrokerUnavailableError):
    """The broker answers but refuses the client's TLS handshake or SASL login: a setting to fix, not an outage
    to wait out."""


class LocalKafkaError(LakehouseError):
    """The local (Docker-less) broker cannot be installed, started or stopped."""


class LakeError(LakehouseError):
    """A lake table is missing, corrupt or cannot be written."""


class ObjectStoreError(LakehouseError):
    """The local S3-compatible server cannot be built, started or stopped."""


class SparkReaderError(LakehouseError):
    """Spark cannot be set up to read the lake (pyspark or delta-spark missing, Delta jars not fetched)."""
