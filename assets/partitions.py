"""Partition definitions shared by assets, jobs and sensors."""

import dagster as dg

# one partition per WARC file found in the crawl input (keys are file names, never with commas)
crawl_partitions = dg.DynamicPartitionsDefinition(name="crawl_files")
