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

/// Σ of `body` over 0..<count, taken in fixed blocks of `blockSize` on every core and then
/// added in block order: the same digits whatever the number of cores, which a sum split
/// by core count would not give.
func blockSums(_ count: Int, blockSize: Int = 2048, _ body: (Range<Int>) -> SIMD8<Double>) -> SIMD8<Double> {
  let blocks = (count + blockSize - 1) / blockSize
  guard blocks > 0 else { return .zero }
  let sums = UnsafeMutableBufferPointer<SIMD8<Double>>.allocate(capacity: blocks)
  defer { sums.deallocate() }
  sums.initialize(repeating: .zero)
  concurrentChunks(blocks) { block in
    sums[block] = body(block * blockSize..<min(count, (block + 1) * blockSize))
  }
  var total = SIMD8<Double>.zero
  for block in 0..<blocks { total += sums[block] }
  return total
}
