//! Handing freed heap back to the kernel. A scan of a leak storm allocates tens of MiB for
//! a moment; glibc keeps freed memory (per thread arena, and at the top of each heap) unless
//! asked, so a node's exporter would sit at its worst scan's size for good.

/// Called once at start-up: one arena for all threads. The exporter's threads take turns
/// (one scan at a time), so per-thread arenas only multiply what is kept. And a fixed mmap
/// threshold: a scan's big vectors (tables, leaks, rendered bodies) get their own mappings,
/// handed back the moment they are freed and grown by mremap without a second copy. By
/// default glibc raises the threshold each time such a block is freed, after which they
/// come from the heap and stay there.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator tunables; M_ARENA_MAX = -8 and M_MMAP_THRESHOLD =
    // -3 in glibc's malloc.h.
    unsafe {
        glibc::mallopt(-8, 1);
        glibc::mallopt(-3, 128 * 1024);
    }
}

/// Called after each scan and each render: returns free pages to the kernel.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free.
    unsafe {
        glibc::malloc_trim(0);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    unsafe extern "C" {
        pub fn mallopt(param: i32, value: i32) -> i32;
        pub fn malloc_trim(pad: usize) -> i32;
    }
}
