"""The cache lookup in SQLite's own words: the output of the latest completed execution
under a cache key. One text for its two readers, both of which skip SQLAlchemy's
execution: `vidpipe.db.completed_output` (every node task asks it) and
`vidpipe.cache_index` (`vidpipe plan`, which does not import SQLAlchemy at all). It reads
through the index `ix_node_runs_cache_lookup` (cache key, status, update time)."""

COMPLETED_OUTPUT = (
    "SELECT output FROM node_runs WHERE cache_key = ? AND status = 'completed' "
    "ORDER BY updated_at DESC LIMIT 1"
)
