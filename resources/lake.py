"""Lake resource: root URI plus the DuckDB artifact catalog."""

from __future__ import annotations

import os

import dagster as dg

from mimo.lake.catalog import Catalog
from mimo.lake.storage import Lake
from mimo.paths import expand


class LakeResource(dg.ConfigurableResource):
    """Where artifacts live (local directory or any fsspec URI) and where the catalog is.

    ``catalog_path`` defaults to ``<root>/_catalog/catalog.duckdb`` for local roots; object-store
    roots need a local catalog path (DuckDB writes a local file).
    """

    root: str = "{state}/lake"
    catalog_path: str | None = None

    def lake(self) -> Lake:
        return Lake(expand(self.root))

    def catalog(self) -> Catalog:
        """The artifact catalog. Cheap to call often: it opens nothing until a read (read-only) or a
        write (read-write, for one transaction), and the first write creates the file."""
        if self.catalog_path:
            return Catalog(expand(self.catalog_path))
        lake = self.lake()
        if not lake.is_local:
            raise ValueError("an object-store lake root needs LakeResource.catalog_path (a local file)")
        return Catalog(os.path.join(lake.root, "_catalog", "catalog.duckdb"))


class CrawlSourceResource(dg.ConfigurableResource):
    """The directory or URI watched for new WARC files (one dynamic partition per file)."""

    input_uri: str = "{state}/crawl-input"
    patterns: list[str] = ["*.warc.gz", "*.warc"]

    def resolved(self) -> str:
        return expand(self.input_uri)

    def list_files(self) -> list[str]:
        """WARC file names (partition keys) present now, sorted."""
        import fsspec

        try:
            fs, root = fsspec.core.url_to_fs(self.resolved())
            exists = fs.exists(root)
        except (ImportError, ValueError, OSError) as exc:
            raise ValueError(f"cannot read crawl input {self.resolved()}: {exc}") from None
        if not exists:
            return []
        names = set()
        for pattern in self.patterns:
            names.update(os.path.basename(p) for p in fs.glob(f"{root.rstrip('/')}/{pattern}"))
        return sorted(n for n in names if "," not in n)

    def local_path(self, name: str) -> str:
        """A local path for one WARC file (downloaded to the state dir when remote)."""
        import fsspec

        fs, root = fsspec.core.url_to_fs(self.resolved())
        remote = f"{root.rstrip('/')}/{name}"
        if "file" in fs.protocol or fs.protocol == "local":
            return remote
        local = os.path.join(expand("{state}/crawl-cache"), name)
        if not os.path.exists(local):
            os.makedirs(os.path.dirname(local), exist_ok=True)
            fs.get(remote, local + ".part")
            os.replace(local + ".part", local)
        return local
