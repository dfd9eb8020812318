"""`modelserve storage-init`: the model download init container (modelserve.storage does the work).

Exit 0 on success. On failure exit 1 with one line, `ModelFetchFailed: <uri>: <reason>: <detail>`,
on stderr and in the termination-message file, which the operator reads back into the
ModelDeployment's `ModelFetchFailed` condition. Secrets are never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from modelserve.storage.checksum import directory_files, file_sha256, manifest_sha256, normalise_sha256
from modelserve.storage.errors import INVALID_URI, FetchError, failure_line, write_termination_message
from modelserve.storage.fetch import Fetcher, fetch_and_verify
from modelserve.storage.uri import (
    BucketSource,
    HfSource,
    ModelSource,
    StorageUriError,
    display_uri,
    parse_model_uri,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--uri", help="s3://bucket/key, gs://bucket/key, https://host/path, hf://org/repo[@rev][/path]"
    )
    parser.add_argument("--dest", help="directory to write the model into (created if missing)")
    parser.add_argument("--sha256", help="expected sha256: of the object, or of the manifest for a directory")
    parser.add_argument(
        "--print-sha256",
        metavar="PATH",
        help="print the digest --sha256 expects for a local file or directory, and exit",
    )


def fetcher_for(source: ModelSource) -> Fetcher:
    """The fetcher of the source's scheme. Each SDK is imported only here, when its scheme is used, so
    the init container loads one SDK, not four (start-up time and memory)."""
    if isinstance(source, BucketSource) and source.scheme == "s3":
        from modelserve.storage.s3 import S3Fetcher, s3_client

        return S3Fetcher(source, s3_client())
    if isinstance(source, BucketSource):
        from modelserve.storage.gcs import GcsFetcher, gcs_client, gcs_error

        try:
            return GcsFetcher(source, gcs_client())
        except Exception as exc:
            raise gcs_error(exc, source.uri) from None
    if isinstance(source, HfSource):
        from modelserve.storage.hf import HfFetcher

        return HfFetcher(source)
    import requests

    from modelserve.storage.https import HttpFetcher

    return HttpFetcher(source, requests.Session())


def print_sha256(path: Path) -> int:
    if path.is_dir():
        print(manifest_sha256(directory_files(path)))
    else:
        print(file_sha256(path))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.print_sha256:
        return print_sha256(Path(args.print_sha256))
    if not args.uri or not args.dest:
        sys.stderr.write("modelserve storage-init: --uri and --dest are required\n")
        return 2
    try:
        try:
            source = parse_model_uri(args.uri)
            expected = normalise_sha256(args.sha256) if args.sha256 else None
        except (StorageUriError, ValueError) as exc:
            raise FetchError(INVALID_URI, str(exc)) from None
        report = fetch_and_verify(fetcher_for(source), Path(args.dest), expected)
    except Exception as exc:
        line = failure_line(args.uri, exc, os.environ)
        sys.stderr.write(line + "\n")
        write_termination_message(line)
        return 1
    print(report.summary(display_uri(args.uri)))
    return 0
