"""The SQLite bulk path's statement sizes: few distinct statements for any batch size."""

from __future__ import annotations

from sidecar.store.sqlitebulk import CHUNK, chunk_sizes


def test_chunk_sizes_cover_every_row_with_few_distinct_statements() -> None:
    distinct: set[int] = set()
    for rows in range(3 * CHUNK + 2):
        sizes = chunk_sizes(rows)
        assert sum(sizes) == rows
        assert all(size == CHUNK or size & (size - 1) == 0 for size in sizes)
        assert len(sizes) - rows // CHUNK <= CHUNK.bit_length()
        distinct.update(sizes)
    assert len(distinct) <= CHUNK.bit_length() + 1  # 500, 256, 128, ..., 1
