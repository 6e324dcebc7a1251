// The malloc accounting that --hvp-memory's budget rests on (util/memory.hpp),
// on whichever allocator this executable was linked with: test_analysis runs
// on glibc's, test_allocator on the programs' tcmalloc. CTest names the one
// expected in CELLSCAPE_EXPECT_ALLOCATOR, so a build that silently lost
// tcmalloc fails here.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <string>

#include "cellscape/util/memory.hpp"

using namespace cellscape;

TEST_CASE("the allocator is the one this executable was linked with", "[memory]") {
    const char* expected = std::getenv("CELLSCAPE_EXPECT_ALLOCATOR");
    if (!expected) return;  // run by hand: nothing to compare with
    CHECK(std::string(describe(current_allocator())) == expected);
}

TEST_CASE("bytes in use follow a large allocation and its release", "[memory]") {
    keep_freed_memory_for_reuse();
    // 64 MiB, written so no allocator can leave it untouched. The reference
    // is the block's own size: in use must grow by at least that much and
    // fall back by at least that much, up to 1 MiB of other allocations
    // (Catch2's own bookkeeping) in between.
    constexpr int64_t size = 64 << 20;
    constexpr int64_t slack = 1 << 20;
    const auto before = malloc_bytes_in_use();
    REQUIRE(before);
    void* block = std::malloc(size);
    REQUIRE(block);
    std::memset(block, 1, size);
    const auto during = malloc_bytes_in_use();
    std::free(block);
    const auto after = malloc_bytes_in_use();
    REQUIRE(during);
    REQUIRE(after);
    CHECK(*during - *before >= size);
    CHECK(*during - *before <= size + slack);
    CHECK(*during - *after >= size - slack);
}

TEST_CASE("freed memory kept for reuse is counted", "[memory]") {
    keep_freed_memory_for_reuse();
    // Many 64 KiB blocks: glibc keeps them in its heap (the mmap threshold is
    // 32 MiB after keep_freed_memory_for_reuse), tcmalloc in its page heap.
    // Freed, at least half of them must show as kept (tcmalloc may return
    // part of its free pages to the kernel at once).
    constexpr int blocks = 256;
    constexpr int64_t block_size = 64 << 10;
    void* allocated[blocks];
    for (void*& block : allocated) {
        block = std::malloc(block_size);
        REQUIRE(block);
        std::memset(block, 1, block_size);
    }
    const auto before = malloc_bytes_kept_free();
    REQUIRE(before);
    for (void* block : allocated) std::free(block);
    const auto after = malloc_bytes_kept_free();
    REQUIRE(after);
    CHECK(*after - *before >= blocks * block_size / 2);
}
