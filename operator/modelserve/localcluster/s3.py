"""LocalS3: a real S3-compatible object store (SeaweedFS `weed server -s3`) on loopback, with its own
access key, for the storage initializer's tests, its benchmark and the real-model e2e."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from modelserve.localcluster.processes import ManagedProcess, free_port, wait_for
from modelserve.localcluster.versions import binary


class LocalS3:
    """SeaweedFS master + volume + filer + S3 gateway in one process, every port free and on
    127.0.0.1, telemetry off. `env()` gives the AWS_* variables an S3 client (and `modelserve
    storage-init`) needs; `client()` a boto3 client with them; `create_bucket` / `upload` to seed it.

        with LocalS3(tmp_path) as s3:
            s3.create_bucket("models")
            s3.upload("models", "fraud/model.joblib", path)
    """

    def __init__(self, workdir: Path, volume_size_limit_mb: int = 512):
        self.workdir = Path(workdir)
        self.volume_size_limit_mb = volume_size_limit_mb
        self.access_key = "modelserve" + secrets.token_hex(6)
        self.secret_key = secrets.token_urlsafe(30)
        self.region = "us-east-1"
        self.port = 0
        self.proc: ManagedProcess | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalS3:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """The SDK's usual variables for this server (what a spec.model.storage Secret holds)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def _write_identities(self) -> Path:
        path = self.workdir / "s3-identities.json"
        identity = {
            "name": "modelserve",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        path.write_text(json.dumps({"identities": [identity]}))
        path.chmod(0o600)
        return path

    def start(self, timeout: float = 90.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        self.port = free_port()
        ports = {name: free_port() for name in ("master", "volume", "filer")}
        grpc = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        argv = [
            str(binary("weed")),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            "-volume.max=0",  # as many volumes as the disk holds (buckets are collections)
            f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}",
            "-master.telemetry=false",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={grpc['master']}",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={grpc['volume']}",
            "-filer",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={grpc['filer']}",
            "-s3",
            f"-s3.port={self.port}",
            f"-s3.port.grpc={grpc['s3']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self._write_identities()}",
        ]
        self.proc = ManagedProcess("seaweedfs", argv, self.workdir)
        proc = self.proc
        wait_for(self.ready, timeout, "SeaweedFS S3 gateway", on_timeout=proc.tail)

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()
            self.proc = None

    def client(self) -> Any:
        import boto3
        import botocore.config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def ready(self) -> bool:
        # The gateway answers before the filer has a writable volume: wait for a write to succeed.
        client = self.client()
        if self.proc and not self.proc.alive():
            raise RuntimeError("weed exited")
        if not any(b["Name"] == "modelserve-ready" for b in client.list_buckets().get("Buckets", [])):
            client.create_bucket(Bucket="modelserve-ready")
        client.put_object(Bucket="modelserve-ready", Key="ping", Body=b"ok")
        return True

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def upload(self, bucket: str, key: str, path: Path) -> None:
        """Upload a file (multipart above 16 MiB, streamed from disk)."""
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=16 * 2**20, multipart_chunksize=16 * 2**20, max_concurrency=4
        )
        self.client().upload_file(str(path), bucket, key, Config=config)

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.client().put_object(Bucket=bucket, Key=key, Body=body)
