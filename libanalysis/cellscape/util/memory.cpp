#include "cellscape/util/memory.hpp"

#include <dlfcn.h>

#include <fstream>
#include <string>

#include <cstddef>
#include <cstdlib>  // defines __GLIBC__ on glibc systems

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace cellscape {
namespace {

// gperftools' C interface (gperftools/malloc_extension_c.h), looked up at
// run time so that the library neither links tcmalloc nor needs its headers.
using NumericProperty = int (*)(const char* property, std::size_t* value);

NumericProperty tcmalloc_property_reader() {
    static const auto reader =
        reinterpret_cast<NumericProperty>(dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty"));
    return reader;
}

std::optional<int64_t> tcmalloc_property(const char* name) {
    std::size_t value = 0;
    if (!tcmalloc_property_reader()(name, &value)) return std::nullopt;
    return static_cast<int64_t>(value);
}

// The shared object whose `malloc` every library calls (the first in the
// lookup order: an LD_PRELOADed one wins over the program's own).
std::string_view malloc_provider() {
    Dl_info info{};
    void* const malloc_address = dlsym(RTLD_DEFAULT, "malloc");
    if (!malloc_address || !dladdr(malloc_address, &info) || !info.dli_fname) return {};
    return info.dli_fname;
}

bool file_is(std::string_view file, std::string_view library) {
    const auto slash = file.rfind('/');
    return file.substr(slash == std::string_view::npos ? 0 : slash + 1).rfind(library, 0) == 0;
}

}  // namespace

// Asked of the malloc that serves allocations, not of whichever allocator is
// loaded: under another malloc, tcmalloc's counters (or glibc's mallinfo2)
// would describe an unused heap and every kept graph would look free.
Allocator current_allocator() {
    static const Allocator found = [] {
        const std::string_view provider = malloc_provider();
        if (file_is(provider, "libtcmalloc") && tcmalloc_property_reader()) return Allocator::tcmalloc;
#if defined(__GLIBC__)
        if (file_is(provider, "libc.so")) return Allocator::glibc;
#endif
        return Allocator::other;
    }();
    return found;
}

void keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
    if (current_allocator() != Allocator::glibc) return;
    // Both are needed: either alone is no faster (or slower).
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, -1);
#endif
}

std::optional<int64_t> malloc_bytes_in_use() {
    switch (current_allocator()) {
        case Allocator::tcmalloc: return tcmalloc_property("generic.current_allocated_bytes");
        case Allocator::glibc: {
#if defined(__GLIBC__)
            const struct mallinfo2 info = mallinfo2();
            return static_cast<int64_t>(info.uordblks + info.hblkhd);  // heap blocks in use, and mmap'd ones
#endif
        }
        case Allocator::other: break;
    }
    return std::nullopt;
}

std::optional<int64_t> malloc_bytes_kept_free() {
    switch (current_allocator()) {
        case Allocator::tcmalloc: {
            // Free pages still mapped, and the free objects of its caches
            // (its unmapped bytes are the kernel's again: not counted).
            int64_t total = 0;
            for (const char* name : {"tcmalloc.pageheap_free_bytes", "tcmalloc.central_cache_free_bytes",
                                     "tcmalloc.transfer_cache_free_bytes", "tcmalloc.thread_cache_free_bytes"}) {
                const auto bytes = tcmalloc_property(name);
                if (!bytes) return std::nullopt;
                total += *bytes;
            }
            return total;
        }
        case Allocator::glibc: {
#if defined(__GLIBC__)
            return static_cast<int64_t>(mallinfo2().fordblks);  // freed heap blocks kept for reuse
#endif
        }
        case Allocator::other: break;
    }
    return std::nullopt;
}

std::optional<int64_t> available_memory_bytes() {
    std::ifstream meminfo("/proc/meminfo");
    std::string key, unit;
    int64_t kibibytes = 0;
    while (meminfo >> key >> kibibytes >> unit)
        if (key == "MemAvailable:") return kibibytes * 1024;
    return std::nullopt;
}

}  // namespace cellscape
