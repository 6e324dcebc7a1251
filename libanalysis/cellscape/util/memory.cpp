#include "cellscape/util/memory.hpp"

#include <cstdlib>  // defines __GLIBC__ on glibc systems

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace cellscape {

void keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
    // Serve sizes up to glibc's maximum threshold (32 MiB) from the heap
    // rather than one mmap each, and never trim the heap's free top back to
    // the kernel. Both are needed: either alone is no faster (or slower).
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, -1);
#endif
}

}  // namespace cellscape
