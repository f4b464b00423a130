"""The ``mimo`` command line: the engine without Dagster.

    mimo extract PAGE.html[.gz]...          JSON lines {"path", "url", "text", ...}
    mimo extract --warc FILE.warc.gz        same, for every HTML record of a WARC file
    mimo crawl build-tiny OUT_DIR           pack the tiny profile's crawl into WARC files
    mimo catalog "SQL"                      query the artifact catalog (DuckDB)
    mimo lineage PATH_OR_ID_OR_ASSET       everything upstream of an artifact, back to crawl files
    mimo eval --model CKPT --problems FILE  pass@1 (95 % interval), pass@k, per level on a problem file
    mimo reward math|code --input IN.jsonl --output OUT.jsonl   rule-based rewards (code: sandboxed)
    mimo reward serve                       the code judge as an HTTP service
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from mimo.paths import expand, shared_dir

if TYPE_CHECKING:
    from mimo.lake.catalog import Catalog

DEFAULT_CATALOG = "{state}/lake/_catalog/catalog.duckdb"


def _catalog_path(arg: str | None) -> str:
    path = expand(arg or os.environ.get("MIMO_CATALOG", DEFAULT_CATALOG))
    if not os.path.exists(path):
        raise SystemExit(f"error: no catalog at {path} (run the pipeline first, or pass --catalog)")
    return path


def _cmd_extract(args: argparse.Namespace) -> int:
    from mimo.data.extract.cli import run_extract_cli

    if not args.paths and not args.warc:
        print("error: give HTML files or --warc FILE", file=sys.stderr)
        return 2
    return run_extract_cli(args.paths, args.warc, guarded=not args.unguarded, page_types=not args.no_page_types)


def _cmd_crawl(args: argparse.Namespace) -> int:
    from mimo.data.tiny_crawl import build_tiny_crawl

    planted = build_tiny_crawl(args.out, args.shared or str(shared_dir()), seed=args.seed)
    print(json.dumps({"out": args.out, "pages": planted.n_pages, "exact_duplicates": len(planted.exact_duplicates),
                      "url_duplicates": len(planted.url_duplicates), "near_duplicates": len(planted.near_duplicates),
                      "bad_records": len(planted.bad_records)}))
    return 0


def _open_catalog(arg: str | None) -> Catalog:
    """The existing catalog, read-only (the command never creates or writes it)."""
    from mimo.lake.catalog import Catalog

    return Catalog(_catalog_path(arg), create=False)


def _catalog_errors(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A locked catalog or bad SQL is one ``error:`` line, not a traceback."""

    def run(args: argparse.Namespace) -> int:
        import duckdb

        from mimo.lake.catalog import CatalogLockError

        try:
            return fn(args)
        except (CatalogLockError, duckdb.Error) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return run


@_catalog_errors
def _cmd_catalog(args: argparse.Namespace) -> int:
    for row in _open_catalog(args.catalog).query(args.sql):
        print(json.dumps(row, default=str))
    return 0


@_catalog_errors
def _cmd_lineage(args: argparse.Namespace) -> int:
    catalog = _open_catalog(args.catalog)
    found = catalog.find(args.artifact)
    if not found and (latest := catalog.latest(args.artifact)):
        found = latest[0]  # an asset name: its newest artifact (e.g. `mimo lineage rl_model`)
    if not found:
        print(f"error: no artifact with id or path {args.artifact!r} in {catalog.path}", file=sys.stderr)
        return 2
    rows = catalog.lineage(found["artifact_id"])
    if args.json:
        for row in rows:
            print(json.dumps(row, default=str))
        return 0
    for row in rows:
        meta = json.loads(row["metadata"] or "{}")
        extra = f" warc={meta['warc_path']} sha256={meta.get('warc_sha256', '')[:12]}" if "warc_path" in meta else ""
        part = f"[{row['partition']}]" if row["partition"] else ""
        print(f"{'  ' * row['depth']}{row['asset_key']}{part} {row['artifact_id']} config={row['config_hash']} "
              f"code={row['code_version']} git={row['git_commit']} rows={row['row_count']}{extra}")
        if args.show_config:
            print(f"{'  ' * row['depth']}  config: {row['config']}")
    crawl = sorted({r["partition"] for r in rows if r["asset_key"] == "crawl_warc"})
    print(f"crawl files: {', '.join(crawl) if crawl else '(none)'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands)."""
    parser = argparse.ArgumentParser(prog="mimo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("extract", help="extract main text (with LaTeX and code) from HTML pages or WARC files")
    p.add_argument("paths", nargs="*", help="HTML files (.html or .html.gz)")
    p.add_argument("--warc", action="append", default=[], help="a WARC file (repeatable)")
    p.add_argument("--unguarded", action="store_true", help="extract in-process (no time/memory guard)")
    p.add_argument("--no-page-types", action="store_true",
                   help="one setting for every page instead of extraction by page type")
    p.set_defaults(fn=_cmd_extract)
    p = sub.add_parser("crawl", help="crawl helpers")
    crawl_sub = p.add_subparsers(dest="crawl_command", required=True)
    b = crawl_sub.add_parser("build-tiny", help="pack the tiny crawl (real pages + planted duplicates and bad input)")
    b.add_argument("out")
    b.add_argument("--shared", default=None, help="path of ../shared (default: beside the repo)")
    b.add_argument("--seed", type=int, default=7)
    b.set_defaults(fn=_cmd_crawl)
    p = sub.add_parser("catalog", help="run SQL against the artifact catalog")
    p.add_argument("sql")
    p.add_argument("--catalog", default=None)
    p.set_defaults(fn=_cmd_catalog)
    p = sub.add_parser("lineage", help="show what an artifact was made from, back to the crawl files")
    p.add_argument("artifact", help="artifact id, path, path suffix, or an asset name (its newest artifact)")
    p.add_argument("--show-config", action="store_true", help="print each artifact's config under it")
    p.add_argument("--catalog", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_cmd_lineage)
    from mimo.eval.cli import add_eval_parser
    from mimo.verifiers.cli import add_reward_parser

    add_eval_parser(sub)
    add_reward_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mimo`` command."""
    args = build_parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
