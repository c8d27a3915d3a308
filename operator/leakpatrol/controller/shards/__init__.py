"""Stage 4, shards (`--sharding`): which replica scans which targets, and one coordinator's merge of
every replica's report into the policy's status."""
