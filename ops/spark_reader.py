"""Apache Spark as a reader of the lake's Delta tables: the Delta Lake jars fetched once from Maven Central into a
git-ignored cache (`.spark/lib/<delta version>_<scala version>/`), and a small local Spark session that reads the
tables with them (docs/data_model.md, "Reading the tables with Spark").

The jars' version is the installed `delta-spark` package's and their Scala version the installed pyspark's, so the
Python and JVM halves always match; a session never fetches anything. pyspark and delta-spark come with the `test`
extra (they are not needed to run the pipeline), so they are imported only when a session is made.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from config.errors import SparkReaderError
from config.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config" / "spark"
# for a short-lived session on a small machine: the quick JIT tier only, one GC thread
QUICK_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
INSTALL_HINT = "pip install -e '.[test]' (pyspark and delta-spark are pinned in requirements.txt)"


def _pyspark_jars() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise SparkReaderError(f"pyspark is not installed: {INSTALL_HINT}")
    return Path(spec.origin).parent / "jars"


def delta_version() -> str:
    """The installed delta-spark package's version: the Delta Lake jars must be the same."""
    try:
        return importlib.metadata.version("delta-spark")
    except importlib.metadata.PackageNotFoundError:
        raise SparkReaderError(f"delta-spark is not installed: {INSTALL_HINT}") from None


def scala_version() -> str:
    """The Scala binary version the installed pyspark is built with (2.12 for Spark 3.5, 2.13 for Spark 4)."""
    cores = sorted(_pyspark_jars().glob("spark-core_*.jar"))
    if not cores:
        raise SparkReaderError(f"pyspark's jars are missing from {_pyspark_jars()}: reinstall it ({INSTALL_HINT})")
    return cores[0].name.removeprefix("spark-core_").split("-", 1)[0]


@dataclass(frozen=True, kw_only=True)
class DeltaJars:
    """The Delta Lake jars for one Delta and Scala version, cached under `home`."""

    home: Path
    version: str
    scala: str

    @classmethod
    def for_settings(cls, settings: Settings) -> DeltaJars:
        """The jars that match the installed delta-spark and pyspark."""
        return cls(home=settings.spark_jars_home, version=delta_version(), scala=scala_version())

    @property
    def lib_dir(self) -> Path:
        return (self.home / "lib" / f"{self.version}_{self.scala}").resolve()

    def install(self) -> list[Path]:
        """Fetch the jars with Maven into the cache, once; the jar files."""
        if not (self.lib_dir / ".complete").exists():
            self._fetch()
        return self.paths()

    def paths(self) -> list[Path]:
        """The cached jar files; an error naming the install command when they were never fetched."""
        jars = sorted(self.lib_dir.glob("*.jar")) if (self.lib_dir / ".complete").exists() else []
        if not jars:
            raise SparkReaderError(
                f"the Delta Lake {self.version} jars for Spark are not in {self.lib_dir}: "
                "run scripts/spark_reader.sh install (fetches them from Maven Central, once)"
            )
        return jars

    def _fetch(self) -> None:
        for tool, package in (("java", "a Java 17 runtime (openjdk-17-jre-headless)"), ("mvn", "Maven (maven)")):
            if shutil.which(tool) is None:
                raise SparkReaderError(f"'{tool}' not found: install {package} to read the lake with Spark")
        logger.info(
            "fetching Delta Lake %s for Scala %s from Maven Central into %s", self.version, self.scala, self.lib_dir
        )
        self.lib_dir.mkdir(parents=True, exist_ok=True)
        command = [
            *("mvn", "-q", "-B", "-f", str(CONFIG_DIR / "pom.xml"), "dependency:copy-dependencies"),
            f"-Ddelta.version={self.version}",
            f"-Dscala.binary.version={self.scala}",
            f"-DoutputDirectory={self.lib_dir}",
            "-DincludeScope=runtime",
            "-DexcludeGroupIds=org.scala-lang",  # pyspark ships its own Scala library
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            raise SparkReaderError(f"Maven could not fetch Delta Lake {self.version}: {' | '.join(tail)}")
        if not any(self.lib_dir.glob(f"delta-spark_{self.scala}-*.jar")):
            raise SparkReaderError(f"Maven ran but no Delta Lake jar landed in {self.lib_dir}; remove it and retry")
        (self.lib_dir / ".complete").touch()


def local_session(
    jars: Sequence[Path], *, cores: int = 2, driver_memory: str = "512m", java_options: str = ""
) -> SparkSession:
    """A local Spark session (one JVM, loopback only, no UI, errors-only logging) that reads Delta tables.

    `java_options` go to the JVM as well (e.g. QUICK_JVM for a short-lived session)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkReaderError(f"pyspark is not installed: {INSTALL_HINT}") from None
    log4j = CONFIG_DIR / "log4j2.properties"
    builder = SparkSession.builder.master(f"local[{cores}]").appName("lakehouse-reader")
    for key, value in {
        "spark.jars": ",".join(str(jar) for jar in jars),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.driver.memory": driver_memory,
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={log4j.as_uri()} {java_options}".strip(),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(cores),
        "spark.databricks.delta.snapshotPartitions": str(cores),  # the log replay of a small table: no 50 tasks
        "spark.sql.session.timeZone": "UTC",
        # SQL over delta.`path` makes the catalog create its warehouse folder (in the working directory by default);
        # a reader never creates a table there, so it stays an empty folder out of the way
        "spark.sql.warehouse.dir": str(Path(tempfile.gettempdir()) / "lakehouse-spark-warehouse"),
    }.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
