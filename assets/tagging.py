"""tagger_model and tagged_pages: small-model domain/quality taggers and per-document scores."""


import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Literal

import dagster as dg
import pyarrow as pa

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.engine import engine_for, engine_progress, engine_work_dir, release_work_dir
from assets.inputs import upstream_artifact
from mimo.data.tagging.annotator import annotate
from mimo.data.tagging.classifier import TaggerModel, TaggerModelConfig
from mimo.data.tagging.columns import tag_columns, tag_schema
from mimo.data.tagging.heuristics import HEURISTIC_FILTERS
from mimo.data.tagging.tagger import ClassifierTagger, LLMTagger
from mimo.paths import expand
from resources.cluster import ClusterResource
from resources.generator import GeneratorResource
from resources.lake import LakeResource


class TaggerTrainConfig(dg.Config):
    """Training of the small tagger on teacher labels (see mimo/data/tagging/annotator.py)."""

    hand_labels: str | None = "{repo}/data/tiny/pages/manifest.json"  # url -> domain, by construction
    epochs: int = 40
    dim: int = 32
    holdout_fraction: float = 0.2
    seed: int = 0


def _hand_domains(path: str | None) -> dict[str, str]:
    if not path or not Path(expand(path)).exists():
        return {}
    return {item["url"]: item["domain"] for item in json.loads(Path(expand(path)).read_text())}


@dg.asset(
    deps=["deduplicated_pages"],
    group_name="pretrain_data",
    kinds={"pytorch"},
    code_version="tagger-v1",
    description="Hashed n-gram tagger (domain + quality, knowledge density, reasoning depth) trained on teacher labels.",
)
def tagger_model(context: dg.AssetExecutionContext, config: TaggerTrainConfig, lake: LakeResource) -> dg.MaterializeResult:
    meter = MemoryMeter()
    upstream = upstream_artifact(context, lake, "deduplicated_pages")
    table = lake.lake().read_parquet(f"{upstream['path']}/pages.parquet", columns=["doc_id", "url", "text"])
    hand = _hand_domains(config.hand_labels)
    texts, urls = table["text"].to_pylist(), table["url"].to_pylist()
    labels = [annotate(t, hand.get(u)) for t, u in zip(texts, urls)]
    cfg = TaggerModelConfig(epochs=config.epochs, dim=config.dim, holdout_fraction=config.holdout_fraction, seed=config.seed)

    def write(tmp: str) -> WriteStats:
        model = TaggerModel(cfg)
        report = model.fit(texts, labels)
        model.save(tmp)
        lake.lake().write_parquet(pa.table({
            "doc_id": table["doc_id"], "domain": [x.domain for x in labels],
            "quality": [x.quality for x in labels], "knowledge_density": [x.knowledge_density for x in labels],
            "reasoning_depth": [x.reasoning_depth for x in labels], "label_source": [x.label_source for x in labels],
        }), f"{tmp}/teacher_labels.parquet")
        context.log.info(f"tagger held-out domain accuracy {report.domain_accuracy:.3f}, score MAE {report.score_mae}")
        return WriteStats(row_count=len(texts), metadata={
            "n_train": report.n_train, "n_holdout": report.n_holdout,
            "holdout_domain_accuracy": round(report.domain_accuracy, 4),
            "holdout_score_mae": {k: round(v, 3) for k, v in report.score_mae.items()},
            "final_train_loss": round(report.final_train_loss, 4),
            "label_sources": dict(Counter(x.label_source for x in labels)),
            "label_domains": dict(Counter(x.domain for x in labels)),
            "label_note": "teacher = hand domains of the project's own pages + transparent rules (annotator.py); "
                          "an LLM tagger replaces it on clusters",
        })

    return write_artifact(context, lake, config.model_dump(), write, upstream_ids=[upstream["artifact_id"]], meter=meter)


class TaggingConfig(dg.Config):
    """Which tagger backend scores documents: ``classifier`` (the small model trained by the
    pipeline) or ``llm`` (the generator resource, e.g. a vLLM server: ``llm_batch_size`` documents
    per call, sent ``concurrency`` requests at a time by the OpenAI backend).

    ``runner`` (classifier): ``engine`` tags row slices of the pages as data-engine tasks
    (local worker processes, or Slurm arrays on the cluster resource's backend); ``in_process``
    tags in this process. Same columns either way. The LLM backend always runs from this process:
    its work is on the server, which batches the concurrent requests."""

    backend: Literal["classifier", "llm"] = "classifier"
    llm_batch_size: int = 64
    llm_max_tokens: int = 96
    runner: Literal["engine", "in_process"] = "engine"
    engine_workers: int = 2  # tasks (each one torch thread); at once on the local engine
    engine_work_root: str = ""  # "": <cluster job_root>/data-engine on Slurm, else {state}/data-engine


def _llm_tags(context: dg.AssetExecutionContext, config: TaggingConfig, generator: GeneratorResource,
              texts: list[str]) -> tuple[str, dict[str, list], Counter]:
    """Tag columns from the LLM tagger, and its errors counted by kind."""
    llm = generator.build()
    step = max(1, len(texts) // 10)

    def progress(done: int, total: int) -> None:
        if done % step < config.llm_batch_size or done == total:
            context.log.info(f"llm tagger: {done}/{total} documents")

    tagger = LLMTagger(llm, f"llm-tagger:{generator.model}", config.llm_batch_size, config.llm_max_tokens,
                       progress=progress)
    try:
        tags = tagger.tag(texts)
    finally:
        llm.close()
    return tagger.name, tag_columns(texts, tags), Counter(t.error.split(":")[0] for t in tags if t.error)


def _classifier_tags(context: dg.AssetExecutionContext, config: TaggingConfig, cluster: ClusterResource,
                     pages_art: dict, model_art: dict, texts: list[str]) -> tuple[str, dict[str, list], dict]:
    """Tag columns from the trained classifier, in process or as data-engine tasks, and engine metadata."""
    if config.runner == "in_process":
        tagger = ClassifierTagger(TaggerModel.load(model_art["path"]))
        return tagger.name, tag_columns(texts, tagger.tag(texts)), {"tag_runner": "in_process"}
    from mimo.data.tagging.engine_steps import tag_on_engine

    engine = engine_for(cluster, config.engine_workers)
    work = engine_work_dir("tagged_pages", cluster, engine, config.engine_work_root,
                           {"pages": pages_art["artifact_id"], "model": model_art["artifact_id"],
                            "config": config.model_dump()})
    tasks = max(1, min(config.engine_workers, len(texts)))
    columns = tag_on_engine(f"{pages_art['path']}/pages.parquet", model_art["path"], work, tasks, engine,
                            engine_progress(context, "tagging", engine))
    release_work_dir(work)
    return ClassifierTagger.DEFAULT_NAME, columns, {"tag_runner": "engine", "engine_backend": engine.backend,
                                                   "engine_tasks": tasks}


@dg.asset(
    deps=["deduplicated_pages", "tagger_model"],
    group_name="pretrain_data",
    kinds={"parquet"},
    code_version="tagged-v1",
    description="Per-document domain, quality, knowledge density, reasoning depth and language, "
                "plus what each heuristic filter would drop.",
)
def tagged_pages(context: dg.AssetExecutionContext, config: TaggingConfig, lake: LakeResource,
                 generator: GeneratorResource, cluster: ClusterResource) -> dg.MaterializeResult:
    meter = MemoryMeter()
    pages_art = upstream_artifact(context, lake, "deduplicated_pages")
    model_art = upstream_artifact(context, lake, "tagger_model")
    table = lake.lake().read_parquet(f"{pages_art['path']}/pages.parquet")
    texts = table["text"].to_pylist()
    tag_errors: Counter = Counter()
    if config.backend == "llm":
        tagger_name, columns, tag_errors = _llm_tags(context, config, generator, texts)
        run_meta: dict = {"tag_runner": "in_process"}
    else:
        tagger_name, columns, run_meta = _classifier_tags(context, config, cluster, pages_art, model_art, texts)
    would_drop: dict[str, Counter] = defaultdict(Counter)
    for name in HEURISTIC_FILTERS:
        for failure, domain in zip(columns[f"heuristic_{name}"], columns["domain"]):
            if failure:
                would_drop[name][domain] += 1
    tagged = table
    for field in tag_schema():
        tagged = tagged.append_column(field, pa.array(columns[field.name], type=field.type))
    domain_counts = Counter(columns["domain"])

    def write(tmp: str) -> WriteStats:
        lake.lake().write_parquet(tagged, f"{tmp}/pages.parquet")
        return WriteStats(row_count=tagged.num_rows, metadata={
            "tagger": tagger_name, "domains": dict(domain_counts), "tag_errors": dict(tag_errors),
            "languages": dict(Counter(table["language"].to_pylist()).most_common(8)),
            "mean_quality": round(sum(columns["quality"]) / max(len(texts), 1), 3),
            "heuristic_would_drop": {k: dict(v) for k, v in would_drop.items()},
            "heuristic_would_drop_math_code": {
                k: {"math": v["math"], "code": v["code"], "of_math": domain_counts["math"], "of_code": domain_counts["code"]}
                for k, v in would_drop.items()},
            **run_meta,
        })

    return write_artifact(context, lake, config.model_dump(), write,
                          upstream_ids=[pages_art["artifact_id"], model_art["artifact_id"]], meter=meter)
