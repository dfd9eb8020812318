"""The storage initializer behind `modelserve storage-init`: fetch `spec.model.uri` into a directory.

`uri.py` parses the URI into a typed source, `checksum.py` defines the single-object digest and the
directory manifest, `files.py` writes atomically (temp name, then rename), `errors.py` names the
failure categories and renders the one line the operator reads back, and one module per scheme
(`s3.py`, `gcs.py`, `https.py`, `hf.py`) holds a fetcher behind the `Fetcher` protocol of `fetch.py`.
Each scheme module imports only its own SDK, so the init container loads only the SDK it uses.
"""
