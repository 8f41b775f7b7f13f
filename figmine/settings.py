"""One typed settings object, read from the environment (and `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Where figmine keeps its embedded database, blobs and caches when nothing else is configured.
    home: Path = Field(default=Path(".figmine"), alias="FIGMINE_HOME")
    # Unset: start an embedded PostgreSQL under `home`. Set: use that server.
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    # Content-addressed blob store: a folder path or s3://bucket/prefix. Default: `home`/blobs.
    blob_url: str | None = Field(default=None, alias="FIGMINE_BLOB_URL")
    blob_s3_endpoint: str | None = Field(default=None, alias="FIGMINE_BLOB_S3_ENDPOINT")

    # PMC Cloud Service bucket (anonymous S3); endpoint configurable for mirrors and tests.
    pmc_bucket: str = Field(default="pmc-oa-opendata", alias="FIGMINE_PMC_BUCKET")
    pmc_s3_endpoint: str | None = Field(default=None, alias="FIGMINE_PMC_S3_ENDPOINT")
    pmc_s3_region: str = Field(default="us-east-1", alias="FIGMINE_PMC_S3_REGION")

    # NCBI E-utilities and the PMC ID converter.
    eutils_url: str = Field(
        default="https://eutils.ncbi.nlm.nih.gov/entrez/eutils", alias="FIGMINE_EUTILS_URL"
    )
    idconv_url: str = Field(
        default="https://pmc.ncbi.nlm.nih.gov/tools/idconv/api/v1/articles/", alias="FIGMINE_IDCONV_URL"
    )
    ncbi_api_key: str | None = Field(default=None, alias="NCBI_API_KEY")
    ncbi_email: str | None = Field(default=None, alias="NCBI_EMAIL")
    ncbi_tool: str = Field(default="figmine", alias="NCBI_TOOL")
    # Shared rate limiter backend: unset means in-process; redis://... shares it across workers.
    rate_limit_redis_url: str | None = Field(default=None, alias="FIGMINE_RATE_LIMIT_REDIS_URL")
    # Override NCBI's requests/second (default: 3, or 10 with an API key); for mirrors and tests.
    ncbi_requests_per_second: float | None = Field(default=None, alias="FIGMINE_NCBI_RATE")

    # Europe PMC REST API (second source).
    europepmc_url: str = Field(
        default="https://www.ebi.ac.uk/europepmc/webservices/rest", alias="FIGMINE_EUROPEPMC_URL"
    )
    # Europe PMC figure images: {europepmc_figures_url}/{PMCID}/bin/{href}.jpg
    europepmc_figures_url: str = Field(
        default="https://europepmc.org/articles", alias="FIGMINE_EUROPEPMC_FIGURES_URL"
    )
    use_europepmc: bool = Field(default=True, alias="FIGMINE_USE_EUROPEPMC")

    # Downloads.
    concurrency: int = Field(default=8, alias="FIGMINE_CONCURRENCY")
    http_timeout_s: float = Field(default=30.0, alias="FIGMINE_HTTP_TIMEOUT")
    retries: int = Field(default=5, alias="FIGMINE_RETRIES")
    # Files of one article downloaded in parallel (articles in parallel: `concurrency`).
    download_workers: int = Field(default=4, alias="FIGMINE_DOWNLOAD_WORKERS")

    # Images: refuse decompression bombs above this many pixels.
    max_image_pixels: int = Field(default=200_000_000, alias="FIGMINE_MAX_IMAGE_PIXELS")
    # Image decodes in flight at once in one process (each holds at most ~0.3 GB: harvester/images.py).
    image_decode_slots: int = Field(default=4, alias="FIGMINE_IMAGE_DECODE_SLOTS")

    # REST API (api/). Reads (lists, details, images, stats) need no key unless this is false;
    # harvests and exports always need an `X-API-Key`.
    api_read_open: bool = Field(default=True, alias="FIGMINE_API_READ_OPEN")
    # Allowed browser origins, comma-separated ("*" for any); empty: no CORS headers at all.
    cors_origins: str = Field(default="", alias="FIGMINE_CORS_ORIGINS")
    # Longest `q` / `prefix` accepted (characters); longer is a 422.
    max_query_length: int = Field(default=500, alias="FIGMINE_MAX_QUERY_LENGTH")
    # Server-side cap on one API query (milliseconds); a slower query answers 503.
    api_statement_timeout_ms: int = Field(default=30_000, alias="FIGMINE_API_STATEMENT_TIMEOUT_MS")
    # Export files can be fetched without the key header through links signed for one key, valid
    # this many seconds (browsers cannot put a header on a plain download).
    download_link_ttl_s: int = Field(default=3600, alias="FIGMINE_DOWNLOAD_LINK_TTL_S")
    # Harvest and export jobs started through the API run on this many background threads.
    api_job_workers: int = Field(default=2, alias="FIGMINE_API_JOB_WORKERS")

    # Scale-out (workers/): unset, harvests run on a local process pool; a Redis URL sends the stage
    # tasks to Celery workers (`figmine worker`). Results live in PostgreSQL, not in a result backend.
    broker_url: str | None = Field(default=None, alias="FIGMINE_BROKER_URL")
    result_backend: str | None = Field(default=None, alias="FIGMINE_RESULT_BACKEND")
    # Prefix of every broker key: several deployments (or test runs) can share one Redis.
    broker_key_prefix: str = Field(default="", alias="FIGMINE_BROKER_KEY_PREFIX")
    # A task a dead worker held is handed to another after this many seconds; longer than any task.
    broker_visibility_timeout_s: int = Field(default=3600, alias="FIGMINE_BROKER_VISIBILITY_TIMEOUT")
    # Articles per harvest task (one message, one process; its articles fetched `concurrency` at a time).
    harvest_group_size: int = Field(default=16, alias="FIGMINE_HARVEST_GROUP_SIZE")
    # Figures per detector call in the detect stage.
    detect_batch_size: int = Field(default=16, alias="FIGMINE_DETECT_BATCH_SIZE")

    @property
    def blob_location(self) -> str:
        return self.blob_url or str((self.home / "blobs").resolve())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
