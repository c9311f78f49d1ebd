/// Uploads, downloads and dataset reads move 1 MiB chunks through several threads. glibc
/// raises its mmap threshold after such a chunk is freed, after which chunks come from
/// per-thread arenas that keep their pages; the resident size then drifts up under load.
/// A fixed threshold sends every chunk-sized buffer straight back to the system when freed,
/// so a process's memory stays at a few chunks whatever the file's size.
public func returnLargeBuffersToTheSystem() {
  #if os(Linux)
    _ = glibcMallopt(glibcMmapThreshold, 256 * 1024)
  #endif
}

#if os(Linux)
  /// `M_MMAP_THRESHOLD` of glibc's <malloc.h>, which the Glibc module does not export.
  private let glibcMmapThreshold: Int32 = -3

  @_silgen_name("mallopt")
  private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
