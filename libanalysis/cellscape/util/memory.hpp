#pragma once
// The C library's allocator, as far as cellscape's speed and memory
// accounting depend on it. LibTorch allocates every intermediate feature map
// (megabytes each) with malloc, so which malloc serves them shows in every
// forward and backward pass (docs/performance.md):
// - glibc's serves sizes above its mmap threshold with fresh mmap'd pages
//   and unmaps them on free, so each pass pays a page fault and a page
//   zeroing per 4 KiB of activations, unless told to keep its heap
//   (keep_freed_memory_for_reuse);
// - gperftools' tcmalloc keeps freed memory in its own caches. The cellscape
//   program and benchmarks link it (CMake option CELLSCAPE_TCMALLOC): the
//   top eigenvalue came 1.21x faster than on glibc's malloc, surface points
//   1.06-1.15x, the quick study 1.19x.
// The library never chooses the allocator (that is the program's link
// line); it only asks which one it runs on, at run time.
#include <cstdint>
#include <optional>
#include <string_view>

#include "cellscape/util/names.hpp"

namespace cellscape {

enum class Allocator { glibc, tcmalloc, other };
template <>
struct EnumNames<Allocator> {
    static constexpr std::array<std::pair<std::string_view, Allocator>, 3> values{{
        {"glibc", Allocator::glibc}, {"tcmalloc", Allocator::tcmalloc}, {"other", Allocator::other}}};
};

// The malloc this process runs on: the library `malloc` resolves to
// (tcmalloc's, with its extension interface; glibc's), else other. For
// another malloc the byte counts below are nullopt, and Hessian work keeps
// no gradient graphs, since it cannot measure them against a budget
// (slower, never over the budget).
Allocator current_allocator();
inline std::string_view describe(Allocator allocator) { return name_of(allocator); }  // "glibc", "tcmalloc", "other"

// glibc only (tcmalloc keeps its freed memory anyway; its mallopt ignores
// these): serve sizes up to glibc's largest threshold (32 MiB) from the heap
// and never trim the heap. Made forward passes up to 1.9x faster. Call once
// at start-up, before large allocations; peak memory is unchanged.
void keep_freed_memory_for_reuse();

// Bytes malloc has handed out and not had back. nullopt for an allocator
// this cannot ask.
std::optional<int64_t> malloc_bytes_in_use();
// Freed bytes malloc keeps resident for reuse (not returned to the kernel):
// memory a new allocation gets without the system's MemAvailable shrinking.
// nullopt for an allocator this cannot ask.
std::optional<int64_t> malloc_bytes_kept_free();

// The memory this process may still use (MemAvailable of /proc/meminfo), if known.
std::optional<int64_t> available_memory_bytes();

}  // namespace cellscape
