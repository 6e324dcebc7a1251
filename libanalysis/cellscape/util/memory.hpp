#pragma once
// Keeping freed memory for reuse. LibTorch allocates every intermediate
// feature map (megabytes each) with malloc; glibc serves such sizes with
// fresh mmap'd pages and unmaps them on free, so each forward pass pays a
// page fault and a page zeroing per 4 KiB of activations. Keeping the heap
// instead made forward passes up to 1.9x faster here (docs/performance.md).
namespace cellscape {

// Call once at start-up, before large allocations; peak memory is unchanged.
void keep_freed_memory_for_reuse();

}  // namespace cellscape
