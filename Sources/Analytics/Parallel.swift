import Foundation

/// Cores this process may run on, read once: the call costs about 12 µs, which showed in
/// every small job.
let activeCores = ProcessInfo.processInfo.activeProcessorCount

/// Runs `body` for 0..<count on all cores and returns when every call has. The callers
/// write to disjoint parts of their buffers, which is why the closure may be shared.
func concurrentChunks(_ count: Int, _ body: (Int) -> Void) {
  if count == 1 {
    body(0)
    return
  }
  withoutActuallyEscaping(body) { escapable in
    nonisolated(unsafe) let work = escapable
    DispatchQueue.concurrentPerform(iterations: count) { work($0) }
  }
}

/// Slices a pass over `count` items is cut into for every core: one below `threadsFrom`
/// items, where the threads do not pay for themselves, else four per core, so that slices
/// of unequal cost even out over the cores.
func sliceCount(_ count: Int, threadsFrom: Int = 65_536) -> Int { count < threadsFrom ? 1 : activeCores * 4 }

/// Slice `s` of 0..<`count` cut into `slices` of about equal length.
func sliceRange(_ s: Int, of slices: Int, count: Int) -> Range<Int> { s * count / slices..<(s + 1) * count / slices }

/// The array of `element(0)`, …, `element(count - 1)`, filled in slices on every core from
/// `threadsFrom` elements, where the threads pay for themselves (fewer for costlier
/// elements): the array itself is the only memory it takes.
func concurrentArray<Element>(count: Int, threadsFrom: Int = 65_536, _ element: (Int) -> Element) -> [Element] {
  [Element](unsafeUninitializedCapacity: count) { out, initialized in
    let slices = sliceCount(count, threadsFrom: threadsFrom)
    concurrentChunks(slices) { k in
      for i in sliceRange(k, of: slices, count: count) {
        (out.baseAddress! + i).initialize(to: element(i))
      }
    }
    initialized = count
  }
}

/// Σ of `body` over 0..<count, taken in fixed blocks of `blockSize` on every core and then
/// added in block order: the same digits whatever the number of cores, which a sum split
/// by core count would not give.
func blockSums(_ count: Int, blockSize: Int = 2048, _ body: (Range<Int>) -> SIMD8<Double>) -> SIMD8<Double> {
  blockTotals(count, blockSize: blockSize, zero: .zero, body, adding: +=)
}

/// `blockSums` for any total: `body`'s totals of fixed blocks of 0..<count, taken on every
/// core, then added to `zero` by `add` in block order.
func blockTotals<Total>(
  _ count: Int, blockSize: Int, zero: Total, _ body: (Range<Int>) -> Total, adding add: (inout Total, Total) -> Void
) -> Total {
  let blocks = (count + blockSize - 1) / blockSize
  guard blocks > 0 else { return zero }
  let totals = UnsafeMutableBufferPointer<Total>.allocate(capacity: blocks)
  defer { totals.deallocate() }
  totals.initialize(repeating: zero)
  defer { totals.deinitialize() }
  concurrentChunks(blocks) { block in
    totals[block] = body(block * blockSize..<min(count, (block + 1) * blockSize))
  }
  var total = zero
  for block in 0..<blocks { add(&total, totals[block]) }
  return total
}

/// `count` copies of `value`, written on every core from `threadsFrom` elements (see
/// `concurrentArray`): a large column's pages are then handed out on every core.
func concurrentArray<Element>(repeating value: Element, count: Int) -> [Element] {
  concurrentArray(count: count) { _ in value }
}

/// Runs `background` on a thread of its own while `body` runs on this one; `body` is handed
/// a function that waits for the background's result. Returns only once the background is
/// done, even when `body` throws, so the background may read what the caller holds.
///
/// For a stage that runs on one core (a counting sort, a pass in order): beside stages that
/// keep both cores busy only part of the time, it fills the gaps. A thread, not a task of
/// the shared pool: waiting for it never depends on a free pool thread.
func withBackgroundWork<Background, Result, Failure: Error>(
  _ background: () -> Background, _ body: (_ join: () -> Background) throws(Failure) -> Result
) throws(Failure) -> Result {
  let slot = BackgroundSlot<Background>()
  return try withoutActuallyEscaping(background) { (work) throws(Failure) -> Result in
    // The thread's block holds the slot, never `work`: a Thread keeps its block until it
    // has exited, which may be after the wait, and `work` must not outlive this call.
    slot.work = work
    let thread = Thread { slot.run() }
    // As the analysis thread of a job: its sorts and closures like room.
    thread.stackSize = 16 << 20
    thread.start()
    defer { slot.waitOnce() }
    return try body {
      slot.waitOnce()
      return slot.value!
    }
  }
}

/// The result of a background thread, and its completion: written by that thread before
/// it signals, read by the waiting one after.
private final class BackgroundSlot<Value>: @unchecked Sendable {
  /// The work, set before the thread starts and let go before it signals.
  var work: (() -> Value)?
  var value: Value?
  let done = DispatchSemaphore(value: 0)

  /// Runs the work on the background thread, lets go of it, then signals.
  func run() {
    value = work!()
    work = nil
    done.signal()
  }
  /// Touched by the waiting thread only.
  private var finished = false

  func waitOnce() {
    guard !finished else { return }
    done.wait()
    finished = true
  }
}

/// Offsets cutting 0..<`values.count` into `slices` ranges of about equal length, each cut
/// moved forward to the start of a run of equal values, so that no run is split between two
/// slices: `slices + 1` offsets, the first 0 and the last the count (slices may be empty).
func runAlignedCuts<T: Equatable>(_ values: UnsafeBufferPointer<T>, slices: Int) -> [Int] {
  let n = values.count
  return (0...slices).map { k in
    var o = k * n / slices
    while o > 0 && o < n && values[o] == values[o - 1] { o += 1 }
    return o
  }
}

/// Values to be freed on another thread than the one that let go of them: large tables
/// whose unmapping would otherwise keep this thread from its next step. The box must hold
/// the last references: whoever let go of the values drops its own first.
final class Leftovers<Value>: @unchecked Sendable {
  private var value: Value?

  init(_ value: consuming Value) { self.value = value }

  /// Frees the values (on the calling thread), once.
  func release() { value = nil }
}
