/// The value at `rank` (0-based) of `values` sorted ascending, in linear time on average
/// (Hoare's selection with a median-of-three pivot): a quantile of a million values without
/// sorting them.
func valueAtRank(_ values: [Double], _ rank: Int) -> Double {
  precondition(rank >= 0 && rank < values.count, "rank out of range")
  var v = values
  return v.withUnsafeMutableBufferPointer { v in
    var (low, high) = (0, v.count - 1)
    while low < high {
      let middle = low + (high - low) / 2
      // Median of three as pivot, which keeps sorted and reversed input linear.
      if v[middle] < v[low] { v.swapAt(middle, low) }
      if v[high] < v[low] { v.swapAt(high, low) }
      if v[high] < v[middle] { v.swapAt(high, middle) }
      let pivot = v[middle]
      var (i, j) = (low, high)
      while i <= j {
        while v[i] < pivot { i += 1 }
        while pivot < v[j] { j -= 1 }
        if i <= j {
          v.swapAt(i, j)
          i += 1
          j -= 1
        }
      }
      if rank <= j {
        high = j
      } else if rank >= i {
        low = i
      } else {
        return v[rank]
      }
    }
    return v[rank]
  }
}

/// The median: the middle value, or the mean of the two middle ones.
func median(_ values: [Double]) -> Double {
  let n = values.count
  guard n > 0 else { return 0 }
  return n % 2 == 1 ? valueAtRank(values, n / 2) : (valueAtRank(values, n / 2 - 1) + valueAtRank(values, n / 2)) / 2
}

/// Indices of the `count` largest values, ties taken in index order — the first `count` of
/// the indices sorted by value descending, then index — in index order, in linear time.
func indicesOfLargest(_ values: [Double], count: Int) -> [Int] {
  guard count > 0, !values.isEmpty else { return [] }
  guard count < values.count else { return Array(values.indices) }
  let threshold = valueAtRank(values, values.count - count)
  var above = 0
  for v in values where v > threshold { above += 1 }
  var equalTaken = 0
  var chosen: [Int] = []
  chosen.reserveCapacity(count)
  for (i, v) in values.enumerated() {
    if v > threshold {
      chosen.append(i)
    } else if v == threshold && equalTaken < count - above {
      chosen.append(i)
      equalTaken += 1
    }
  }
  return chosen
}

/// The first `count` of `candidates` in the strict total order `precedes`, in that order:
/// one pass keeping the best few, where sorting a hundred thousand candidates for ten took
/// a core for tens of milliseconds.
func firstInOrder(_ candidates: [Int], count: Int, by precedes: (Int, Int) -> Bool) -> [Int] {
  guard count > 0 else { return [] }
  var best: [Int] = []
  best.reserveCapacity(count + 1)
  for candidate in candidates {
    if best.count == count, !precedes(candidate, best[count - 1]) { continue }
    var at = best.count
    while at > 0 && precedes(candidate, best[at - 1]) { at -= 1 }
    best.insert(candidate, at: at)
    if best.count > count { best.removeLast() }
  }
  return best
}
