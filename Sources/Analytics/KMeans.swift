import Dispatch
import Foundation

/// A deterministic pseudo-random generator (SplitMix64): same seed, same sequence, on
/// every platform.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  private var state: UInt64

  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A uniform double in [0, 1).
  public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

/// Points in row-major order: `values[i * dimensions + j]` is feature j of point i.
public struct PointMatrix: Sendable {
  public var values: [Double]
  public let dimensions: Int

  public init(values: [Double], dimensions: Int) {
    precondition(dimensions > 0 && values.count % dimensions == 0)
    self.values = values
    self.dimensions = dimensions
  }

  /// Number of points.
  public var count: Int { values.count / dimensions }

  /// The subset of rows at `indices`.
  public func rows(_ indices: [Int]) -> PointMatrix {
    var out = [Double]()
    out.reserveCapacity(indices.count * dimensions)
    for i in indices { out.append(contentsOf: values[i * dimensions..<(i + 1) * dimensions]) }
    return PointMatrix(values: out, dimensions: dimensions)
  }
}

/// The outcome of one K-Means fit.
public struct KMeansFit: Sendable {
  /// k × dimensions, row-major.
  public var centers: [Double]
  public var labels: [Int32]
  /// Sum of squared distances of points to their centre.
  public var inertia: Double
  public var iterations: Int
  public var converged: Bool
}

/// K-Means (Lloyd's algorithm) with k-means++ seeding, as scikit-learn does it.
///
/// Seeding is greedy k-means++: the first centre is a uniformly drawn point; each next one is
/// the best (lowest resulting inertia) of 2 + ⌊ln k⌋ candidates drawn with probability
/// proportional to the squared distance to the nearest chosen centre. Iterations stop when
/// no label changes, when the centres move by at most `tolerance` × the mean feature
/// variance (squared, summed), or after `maxIterations`. The assignment step is split over
/// the available cores.
public enum KMeans {
  /// Fits k clusters with `restarts` seedings drawn from `seed`, keeping the lowest inertia.
  public static func fit(
    _ points: PointMatrix, k: Int, restarts: Int = 4, seed: UInt64 = 42, maxIterations: Int = 300, tolerance: Double = 1e-4
  ) -> KMeansFit {
    precondition(k >= 1 && points.count >= k)
    var rng = SplitMix64(seed: seed)
    var best: KMeansFit?
    let threshold = tolerance * meanVariance(points)
    for _ in 0..<max(1, restarts) {
      let initial = plusPlusSeeds(points, k: k, rng: &rng)
      let fit = lloyd(points, initialCenters: initial, maxIterations: maxIterations, shiftThreshold: threshold)
      if best == nil || fit.inertia < best!.inertia { best = fit }
    }
    return best!
  }

  /// Lloyd iterations from given centres (k × dimensions, row-major). With
  /// `shiftThreshold` 0 it runs until no label changes.
  public static func lloyd(_ points: PointMatrix, initialCenters: [Double], maxIterations: Int = 300, shiftThreshold: Double = 0) -> KMeansFit {
    let n = points.count
    var centers = initialCenters
    var labels = [Int32](repeating: -1, count: n)
    var iterations = 0
    var converged = false
    while iterations < maxIterations {
      iterations += 1
      let step = assignAndSum(points, centers: centers, labels: &labels)
      if step.changed == 0 && iterations > 1 {
        converged = true
        break
      }
      var newCenters = means(step, points: points, labels: labels, previous: centers)
      var shift = 0.0
      for j in 0..<centers.count { shift += (newCenters[j] - centers[j]) * (newCenters[j] - centers[j]) }
      swap(&centers, &newCenters)
      if shiftThreshold > 0 && shift <= shiftThreshold {
        converged = true
        // Labels must match the final centres, as scikit-learn's last E-step ensures.
        _ = assignAndSum(points, centers: centers, labels: &labels)
        break
      }
    }
    return KMeansFit(centers: centers, labels: labels, inertia: inertia(points, centers: centers, labels: labels), iterations: iterations, converged: converged)
  }

  /// Sum of squared distances of each point to its labelled centre.
  public static func inertia(_ points: PointMatrix, centers: [Double], labels: [Int32]) -> Double {
    let d = points.dimensions
    return points.values.withUnsafeBufferPointer { x in
      labels.withUnsafeBufferPointer { labels in
        blockSums(points.count, blockSize: lloydBlock) { block in
          var total = 0.0
          for i in block {
            let c = Int(labels[i]) * d
            for j in 0..<d {
              let diff = x[i * d + j] - centers[c + j]
              total += diff * diff
            }
          }
          return SIMD8(total, 0, 0, 0, 0, 0, 0, 0)
        }[0]
      }
    }
  }

  /// Mean silhouette coefficient of the points (O(n²): pass a sample for large inputs).
  public static func silhouette(_ points: PointMatrix, labels: [Int32], k: Int) -> Double {
    let n = points.count
    let d = points.dimensions
    guard n > 1, k > 1 else { return 0 }
    var counts = [Int](repeating: 0, count: k)
    for l in labels { counts[Int(l)] += 1 }
    let sizes = counts
    let chunks = silhouetteRuns(n)
    let partial = UnsafeMutableBufferPointer<Double>.allocate(capacity: chunks)
    defer { partial.deallocate() }
    partial.initialize(repeating: 0)
    if d == 3 { return silhouette3(points, labels: labels, sizes: sizes) }
    points.values.withUnsafeBufferPointer { x in
      concurrentChunks(chunks) { chunk in
        var sums = [Double](repeating: 0, count: k)
        var total = 0.0
        let lower = chunk * n / chunks
        let upper = (chunk + 1) * n / chunks
        for i in lower..<upper {
          for c in 0..<k { sums[c] = 0 }
          for other in 0..<n where other != i {
            var s = 0.0
            for j in 0..<d {
              let diff = x[i * d + j] - x[other * d + j]
              s += diff * diff
            }
            sums[Int(labels[other])] += s.squareRoot()
          }
          let own = Int(labels[i])
          guard sizes[own] > 1 else { continue }  // a singleton scores 0
          let a = sums[own] / Double(sizes[own] - 1)
          var b = Double.infinity
          for c in 0..<k where c != own && sizes[c] > 0 { b = min(b, sums[c] / Double(sizes[c])) }
          total += (b - a) / max(a, b)
        }
        partial[chunk] = total
      }
    }
    return partial.reduce(0, +) / Double(n)
  }

  /// `silhouette` for the customers' three features, to the same bits: each point's sum
  /// of distances to a cluster is still taken over that cluster's points in index order,
  /// but from columns holding each cluster's points together (its own distance, 0, adds
  /// nothing), and for eight points at once, one sum each in the lanes of a vector: eight
  /// independent chains of additions instead of one, with the square roots in vectors.
  static func silhouette3(_ points: PointMatrix, labels: [Int32], sizes: [Int]) -> Double {
    let n = points.count
    let k = sizes.count
    // Columns in cluster order, index order within a cluster.
    var start = [Int](repeating: 0, count: k + 1)
    for c in 0..<k { start[c + 1] = start[c] + sizes[c] }
    var next = start
    var column0 = [Double](repeating: 0, count: n), column1 = column0, column2 = column0
    for i in 0..<n {
      let c = Int(labels[i])
      (column0[next[c]], column1[next[c]], column2[next[c]]) = (points.values[i * 3], points.values[i * 3 + 1], points.values[i * 3 + 2])
      next[c] += 1
    }
    let lanes = 8
    let blocks = (n + lanes - 1) / lanes
    // Each point's score, added up afterwards in the general loop's order.
    var scores = [Double](repeating: 0, count: n)
    let chunks = max(1, min(blocks, activeCores * 4))
    scores.withUnsafeMutableBufferPointer { scores in
      column0.withUnsafeBufferPointer { c0 in
        column1.withUnsafeBufferPointer { c1 in
          column2.withUnsafeBufferPointer { c2 in
            points.values.withUnsafeBufferPointer { x in
              concurrentChunks(chunks) { chunk in
                var sums = [SIMD8<Double>](repeating: .zero, count: k)
                for block in (chunk * blocks / chunks)..<((chunk + 1) * blocks / chunks) {
                  var q0 = SIMD8<Double>.zero, q1 = q0, q2 = q0
                  let first = block * lanes
                  for lane in 0..<min(lanes, n - first) {
                    (q0[lane], q1[lane], q2[lane]) = (x[(first + lane) * 3], x[(first + lane) * 3 + 1], x[(first + lane) * 3 + 2])
                  }
                  for c in 0..<k {
                    var sum = SIMD8<Double>.zero
                    for j in start[c]..<start[c + 1] {
                      let a = q0 - SIMD8(repeating: c0[j]), b = q1 - SIMD8(repeating: c1[j]), e = q2 - SIMD8(repeating: c2[j])
                      sum += (a * a + b * b + e * e).squareRoot()
                    }
                    sums[c] = sum
                  }
                  for lane in 0..<min(lanes, n - first) {
                    let own = Int(labels[first + lane])
                    guard sizes[own] > 1 else { continue }  // a singleton scores 0
                    let a = sums[own][lane] / Double(sizes[own] - 1)
                    var b = Double.infinity
                    for c in 0..<k where c != own && sizes[c] > 0 { b = min(b, sums[c][lane] / Double(sizes[c])) }
                    scores[first + lane] = (b - a) / max(a, b)
                  }
                }
              }
            }
          }
        }
      }
    }
    return silhouetteTotal(scores) / Double(n)
  }

  /// Σ of the points' scores, in the eight runs of points the general loop sums apart,
  /// then those eight in order: fixed, so that the digits do not depend on the core count.
  static func silhouetteTotal(_ scores: [Double]) -> Double {
    let n = scores.count
    let runs = silhouetteRuns(n)
    var total = 0.0
    for run in 0..<runs {
      var partial = 0.0
      for i in (run * n / runs)..<((run + 1) * n / runs) { partial += scores[i] }
      total += partial
    }
    return total
  }

  /// Runs of points whose scores the silhouette sums apart.
  static func silhouetteRuns(_ n: Int) -> Int { max(1, min(n, 8)) }

  static func meanVariance(_ points: PointMatrix) -> Double {
    let d = points.dimensions
    let n = Double(points.count)
    var total = 0.0
    for j in 0..<d {
      var mean = 0.0
      for i in 0..<points.count { mean += points.values[i * d + j] }
      mean /= n
      var v = 0.0
      for i in 0..<points.count {
        let diff = points.values[i * d + j] - mean
        v += diff * diff
      }
      total += v / n
    }
    return total / Double(d)
  }

  /// Greedy k-means++ seeding. The passes over the points run on every core, in blocks of
  /// `lloydBlock` added in block order (the same draws whatever the number of cores).
  static func plusPlusSeeds(_ points: PointMatrix, k: Int, rng: inout SplitMix64) -> [Double] {
    let n = points.count
    let d = points.dimensions
    let trials = 2 + Int(log(Double(k)))
    let blockSize = lloydBlock
    let blocks = (n + blockSize - 1) / blockSize
    var centers = [Double]()
    centers.reserveCapacity(k * d)
    let first = Int(rng.next() % UInt64(n))
    centers.append(contentsOf: points.values[first * d..<(first + 1) * d])
    var closest = [Double](repeating: 0, count: n)
    var candidateDistances = [Double](repeating: 0, count: n)
    var bestDistances = [Double](repeating: 0, count: n)
    // Each block's share of the potential, for drawing a point without summing them all again.
    var blockPotentials = [Double](repeating: 0, count: blocks)
    // Distances to `center` (or the nearer of it and `closest` when `against` is given)
    // into `out`; returns their sum, block by block into `shares`.
    func distances(to center: [Double], against: [Double]?, into out: inout [Double], shares: inout [Double]) -> Double {
      points.values.withUnsafeBufferPointer { x in
        out.withUnsafeMutableBufferPointer { out in
          shares.withUnsafeMutableBufferPointer { shares in
            nonisolated(unsafe) let (out, shares) = (out, shares)
            concurrentChunks(blocks) { block in
              var total = 0.0
              for i in (block * blockSize)..<min(n, (block + 1) * blockSize) {
                var dist = squaredDistance(x, i, center, 0, d)
                if let against { dist = min(against[i], dist) }
                out[i] = dist
                total += dist
              }
              shares[block] = total
            }
          }
        }
      }
      return shares.reduce(0, +)
    }
    var potential = distances(to: centers, against: nil, into: &closest, shares: &blockPotentials)
    var candidateShares = blockPotentials
    var bestShares = blockPotentials
    for _ in 1..<k {
      var bestCandidate = -1
      var bestPotential = Double.infinity
      for _ in 0..<trials {
        // Draw a point with probability proportional to its squared distance: the block
        // first, then the point within it.
        let target = rng.nextUnit() * potential
        var cumulative = 0.0
        var candidate = n - 1
        var block = 0
        while block < blocks - 1 && cumulative + blockPotentials[block] <= target {
          cumulative += blockPotentials[block]
          block += 1
        }
        for i in (block * blockSize)..<n {
          cumulative += closest[i]
          if cumulative > target {
            candidate = i
            break
          }
        }
        let c = Array(points.values[candidate * d..<(candidate + 1) * d])
        let candidatePotential = distances(to: c, against: closest, into: &candidateDistances, shares: &candidateShares)
        if candidatePotential < bestPotential {
          bestPotential = candidatePotential
          bestCandidate = candidate
          swap(&bestDistances, &candidateDistances)
          swap(&bestShares, &candidateShares)
        }
      }
      centers.append(contentsOf: points.values[bestCandidate * d..<(bestCandidate + 1) * d])
      swap(&closest, &bestDistances)
      swap(&blockPotentials, &bestShares)
      potential = bestPotential
    }
    return centers
  }

  @inline(__always)
  static func squaredDistance(_ x: UnsafeBufferPointer<Double>, _ i: Int, _ centers: [Double], _ c: Int, _ d: Int) -> Double {
    var s = 0.0
    for j in 0..<d {
      let diff = x[i * d + j] - centers[c * d + j]
      s += diff * diff
    }
    return s
  }

  /// Points per block of a Lloyd step's sums: fixed, so that the sums, and so the centres,
  /// are the same whatever the number of cores.
  static let lloydBlock = 16_384

  /// What one Lloyd step found: how many labels changed, and each centre's new points'
  /// coordinate sums (k × dimensions) and count.
  struct AssignmentSums {
    var changed: Int
    var sums: [Double]
    var counts: [Int]
  }

  /// Assigns each point to its nearest centre and, in the same pass, sums each centre's
  /// points: the means of the next step then need no second pass over a million points on
  /// one core. Blocks of `lloydBlock` points on every core, added in block order.
  static func assignAndSum(_ points: PointMatrix, centers: [Double], labels: inout [Int32]) -> AssignmentSums {
    let n = points.count
    let d = points.dimensions
    let k = centers.count / d
    let blocks = (n + lloydBlock - 1) / lloydBlock
    // Per block: k × d sums, then k counts, then the changed labels.
    let width = k * d + k + 1
    let partial = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(1, blocks * width))
    defer { partial.deallocate() }
    partial.initialize(repeating: 0)
    // The customers' three features as vectors with a zero fourth lane, each centre's sums
    // and count in one vector: the distances are the same sums in the same order as the
    // general loop's, and a point is added to its centre in one vector addition.
    let centres4 = (0..<(d == 3 ? k : 0)).map { c in SIMD4(centers[c * 3], centers[c * 3 + 1], centers[c * 3 + 2], 0) }
    points.values.withUnsafeBufferPointer { x in
      centers.withUnsafeBufferPointer { centers in
        centres4.withUnsafeBufferPointer { centres4 in
          labels.withUnsafeMutableBufferPointer { labels in
            concurrentChunks(blocks) { block in
              let out = UnsafeMutableBufferPointer(rebasing: partial[block * width..<(block + 1) * width])
              let range = (block * lloydBlock)..<min(n, (block + 1) * lloydBlock)
              var changed = 0
              if d == 3 {
                let totals = UnsafeMutableBufferPointer<SIMD4<Double>>.allocate(capacity: k)
                defer { totals.deallocate() }
                totals.initialize(repeating: .zero)
                for i in range {
                  let point = SIMD4(x[i * 3], x[i * 3 + 1], x[i * 3 + 2], 0)
                  var best = 0
                  var bestDistance = Double.infinity
                  for c in 0..<k {
                    let diff = point - centres4[c]
                    let square = diff * diff
                    let s = square[0] + square[1] + square[2]
                    if s < bestDistance {
                      bestDistance = s
                      best = c
                    }
                  }
                  if labels[i] != Int32(best) {
                    labels[i] = Int32(best)
                    changed += 1
                  }
                  totals[best] += SIMD4(point[0], point[1], point[2], 1)
                }
                for c in 0..<k {
                  for j in 0..<3 { out[c * 3 + j] = totals[c][j] }
                  out[k * 3 + c] = totals[c][3]
                }
              } else {
                for i in range {
                  var best = 0
                  var bestDistance = Double.infinity
                  for c in 0..<k {
                    var s = 0.0
                    for j in 0..<d {
                      let diff = x[i * d + j] - centers[c * d + j]
                      s += diff * diff
                    }
                    if s < bestDistance {
                      bestDistance = s
                      best = c
                    }
                  }
                  if labels[i] != Int32(best) {
                    labels[i] = Int32(best)
                    changed += 1
                  }
                  for j in 0..<d { out[best * d + j] += x[i * d + j] }
                  out[k * d + best] += 1
                }
              }
              out[width - 1] = Double(changed)
            }
          }
        }
      }
    }
    var result = AssignmentSums(changed: 0, sums: [Double](repeating: 0, count: k * d), counts: [Int](repeating: 0, count: k))
    for block in 0..<blocks {
      let base = block * width
      for j in 0..<k * d { result.sums[j] += partial[base + j] }
      for c in 0..<k { result.counts[c] += Int(partial[base + k * d + c]) }
      result.changed += Int(partial[base + width - 1])
    }
    return result
  }

  /// New centres as the means of their points; an emptied cluster takes the point
  /// farthest from its centre.
  static func means(_ step: AssignmentSums, points: PointMatrix, labels: [Int32], previous: [Double]) -> [Double] {
    let d = points.dimensions
    let k = step.counts.count
    var (sums, counts) = (step.sums, step.counts)
    for c in 0..<k where counts[c] == 0 {
      var farthest = 0
      var distance = -1.0
      points.values.withUnsafeBufferPointer { x in
        for i in 0..<points.count {
          let s = squaredDistance(x, i, previous, Int(labels[i]), d)
          if s > distance {
            distance = s
            farthest = i
          }
        }
      }
      for j in 0..<d { sums[c * d + j] = points.values[farthest * d + j] }
      counts[c] = 1
    }
    for c in 0..<k {
      for j in 0..<d { sums[c * d + j] /= Double(counts[c]) }
    }
    return sums
  }
}
