"""Global MinHash dedup in four stages of bounded memory, as datatrove pipeline steps.

1. :class:`SignatureStep` (one task per input shard): the shard's signatures; per band, its records
   ``(band key, band values, document id)`` sorted by key, written as the shard's band files.
2. :class:`BucketStep` (``bands x parts`` tasks): one key range of one band, read from every shard's
   sorted band file (a slice found by binary search, nothing else loaded); equal bands pair each
   document with the lowest id of its bucket.
3. :class:`ClusterStep` (one task): connected components over the pairs of every bucket task, on
   the documents that have a pair only; the lowest id of a component is kept.
4. :class:`RemovedFilter` (one task per shard): drops the shard's removed documents.

A document's id is ``shard << 32 | index in shard``, so "lowest id" is "earliest copy" in the
order the in-memory pass (:func:`mimo.data.dedup.minhash.minhash_dedup` over the concatenated
shards) uses, and both give the same clusters. Memory per task depends on the shard size and on
``bands x parts``, not on the corpus size; every file is written under a temporary name and
renamed, so a task killed mid-write leaves nothing that a later stage reads.
"""

from mimo.data.dedup.stages.buckets import BucketStep
from mimo.data.dedup.stages.clusters import ClusterStep
from mimo.data.dedup.stages.filter import RemovedFilter
from mimo.data.dedup.stages.pipeline import MultiStageResult, as_dedup_result, multistage_minhash
from mimo.data.dedup.stages.reader import ParquetTextShards
from mimo.data.dedup.stages.signatures import SignatureStep

__all__ = ["BucketStep", "ClusterStep", "MultiStageResult", "ParquetTextShards", "RemovedFilter", "SignatureStep",
           "as_dedup_result", "multistage_minhash"]
