/// Uploads, downloads and dataset reads move 1 MiB chunks through several threads. glibc
/// raises its mmap threshold after such a chunk is freed, after which chunks come from
/// per-thread arenas that keep their pages; the resident size then drifts up under load.
/// A fixed threshold sends every chunk-sized buffer straight back to the system when freed,
/// so a process's memory stays at a few chunks whatever the file's size.
///
/// For the worker and the command: there, keeping chunk-sized buffers (as the coordinator
/// does) measured 16 to 44 MB more at the peak of a million customers, and no time saved.
public func returnLargeBuffersToTheSystem() {
  #if os(Linux)
    _ = glibcMallopt(glibcMmapThreshold, 256 * 1024)
  #endif
}

/// For the coordinator, which does little but move chunks: buffers up to 4 MiB (a 1 MiB
/// chunk, and the 2 MiB its gRPC message grows into) are kept and reused, not mapped and
/// unmapped for every chunk. Mapping them afresh cost a page fault per 4 KiB: a fifth of
/// the coordinator's processor time on an upload. The thresholds are fixed, so glibc never
/// raises them itself, and an arena gives back what lies free above 4 MiB at its top: the
/// memory kept stays a few chunks per thread, whatever the files' sizes.
public func reuseChunkSizedBuffers() {
  #if os(Linux)
    _ = glibcMallopt(glibcMmapThreshold, 4 << 20)
    _ = glibcMallopt(glibcTrimThreshold, 4 << 20)
  #endif
}

/// Gives back to the system the free memory of every arena, not only what lies at the top
/// of each: a process that keeps buffers for reuse calls it once a burst of work is over.
public func returnFreeMemoryToTheSystem() {
  #if os(Linux)
    _ = glibcMallocTrim(0)
  #endif
}

#if os(Linux)
  /// `M_MMAP_THRESHOLD` of glibc's <malloc.h>, which the Glibc module does not export.
  private let glibcMmapThreshold: Int32 = -3
  /// `M_TRIM_THRESHOLD` of glibc's <malloc.h>.
  private let glibcTrimThreshold: Int32 = -1

  @_silgen_name("mallopt")
  private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32

  @_silgen_name("malloc_trim")
  private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
