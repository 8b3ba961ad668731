"""Grouping a batch's packets by shard, in one pass (a counting sort)."""

from ..._jit import ngjit


@ngjit
def group_by_shard(shard, n_shards, index, ts, src, dst, pk, starts, ends, g_index, g_ts, g_src, g_dst, g_pk,
                   position):
    """Copy each packet to its shard's contiguous range, keeping trace order within a shard.

    ``starts``/``ends`` (int64[n_shards]) receive each shard's range; ``position``
    (int64[n]) receives where each packet went, to scatter results back.
    """
    n = len(shard)
    for s in range(n_shards):
        starts[s] = 0
    for i in range(n):
        starts[shard[i]] += 1
    total = 0
    for s in range(n_shards):
        count = starts[s]
        starts[s] = total
        ends[s] = total
        total += count
    for i in range(n):
        s = shard[i]
        j = ends[s]
        ends[s] = j + 1
        position[i] = j
        g_index[j] = index[i]
        g_ts[j] = ts[i]
        g_src[j, 0] = src[i, 0]
        g_src[j, 1] = src[i, 1]
        g_dst[j, 0] = dst[i, 0]
        g_dst[j, 1] = dst[i, 1]
        for f in range(pk.shape[0]):
            g_pk[f, j] = pk[f, i]
