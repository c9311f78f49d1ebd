import Foundation

/// K-Means on customers: features, choice of k, and profiles with names.
public struct Clustering: Sendable {
  public var k: Int
  public var chosenBy: ClusterChoice
  public var labels: [Int32]
  public var inertia: Double
  public var silhouette: Double
  public var candidates: [AnalysisResult.ClusterSummary.Candidate]
  public var profiles: [AnalysisResult.ClusterProfile]

  /// Feature names, in the order of the matrix columns.
  public static let featureNames = ["log1p(recency)", "log1p(frequency)", "log1p(monetary)"]
  /// Points used for choosing k, and for the silhouette.
  static let selectionSample = 20_000
  static let silhouetteSample = 3_000

  /// The standardised feature matrix: z-scores (population standard deviation, as
  /// scikit-learn's StandardScaler) of log1p(recency), log1p(frequency), log1p(monetary).
  public static func features(_ table: CustomerTable) -> PointMatrix {
    let n = table.count
    // The logarithms written in place, in slices on every core, then standardised in place:
    // a column per feature, each standardised into a copy, and the matrix zeroed before it
    // was filled made seven arrays of a million customers on one core.
    let slices = sliceCount(n)
    func slice(_ s: Int) -> Range<Int> { sliceRange(s, of: slices, count: n) }
    var values = [Double](unsafeUninitializedCapacity: n * 3) { out, made in
      table.recency.withUnsafeBufferPointer { recency in
        table.frequency.withUnsafeBufferPointer { frequency in
          table.monetary.withUnsafeBufferPointer { monetary in
            concurrentChunks(slices) { s in
              for i in slice(s) {
                (out.baseAddress! + i * 3).initialize(to: log1p(Double(recency[i])))
                (out.baseAddress! + i * 3 + 1).initialize(to: log1p(Double(frequency[i])))
                (out.baseAddress! + i * 3 + 2).initialize(to: log1p(max(0, monetary[i])))
              }
            }
          }
        }
      }
      made = n * 3
    }
    var means = [Double](repeating: 0, count: 3)
    var deviations = [Double](repeating: 1, count: 3)
    values.withUnsafeBufferPointer { values in
      for j in 0..<3 {
        // Summed in customer order, as a column's `reduce` did: the same digits.
        var sum = 0.0
        for i in 0..<n { sum += values[i * 3 + j] }
        let mean = sum / Double(n)
        var squares = 0.0
        for i in 0..<n { squares = squares + (values[i * 3 + j] - mean) * (values[i * 3 + j] - mean) }
        let variance = squares / Double(n)
        (means[j], deviations[j]) = (mean, variance > 0 ? variance.squareRoot() : 1)
      }
    }
    let (mean, sd) = (means, deviations)
    values.withUnsafeMutableBufferPointer { values in
      concurrentChunks(slices) { s in
        for i in slice(s) {
          for j in 0..<3 { values[i * 3 + j] = (values[i * 3 + j] - mean[j]) / sd[j] }
        }
      }
    }
    return PointMatrix(values: values, dimensions: 3)
  }

  /// A fixed sample of `size` indices drawn without replacement from 0..<n (all when n ≤ size).
  static func sample(_ n: Int, size: Int, seed: UInt64) -> [Int] {
    guard n > size else { return Array(0..<n) }
    var rng = SplitMix64(seed: seed ^ 0x5EED)
    // The first `size` steps of a Fisher–Yates shuffle of 0..<n, with only the positions
    // they move written down: the same draws as shuffling a whole array of n indices,
    // without making one (a million customers' was 8 MB, twice per analysis).
    var moved: [Int: Int] = [:]
    moved.reserveCapacity(2 * size)
    var drawn = [Int]()
    drawn.reserveCapacity(size)
    for i in 0..<size {
      let j = i + Int(rng.next() % UInt64(n - i))
      let (atI, atJ) = (moved[i] ?? i, moved[j] ?? j)
      (moved[i], moved[j]) = (atJ, atI)
      drawn.append(atJ)
    }
    return drawn.sorted()
  }

  /// Clusters the customers: k given, or the k of 2…8 with the best silhouette on a fixed
  /// sample (k-means fitted on a sample of 20,000 customers with 3 seedings, silhouette on
  /// 3,000 of them); then the final fit on every customer with 4 seedings.
  public static func run(_ table: CustomerTable, k requested: Int?, seed: UInt64) -> Clustering {
    let points = features(table)
    let n = points.count
    let maxK = max(1, min(8, n - 1))
    var candidates: [AnalysisResult.ClusterSummary.Candidate] = []
    let k: Int
    let chosenBy: ClusterChoice
    if let requested {
      k = min(requested, max(1, n))
      chosenBy = .given
    } else if maxK < 2 {
      k = max(1, min(n, 1))
      chosenBy = .tooFewCustomers
    } else {
      let selection = sample(n, size: selectionSample, seed: seed)
      let subset = points.rows(selection)
      let silhouetteIndices = sample(subset.count, size: silhouetteSample, seed: seed &+ 1)
      let silhouettePoints = subset.rows(silhouetteIndices)
      // The candidates at once, one per core: on 20,000 points a fit's steps are too short
      // to share well between cores, and each fit is the same wherever it runs.
      let tried = UnsafeMutableBufferPointer<AnalysisResult.ClusterSummary.Candidate>.allocate(capacity: maxK - 1)
      defer { tried.deallocate() }
      nonisolated(unsafe) let slots = tried
      concurrentChunks(maxK - 1) { index in
        let candidate = index + 2
        let fit = KMeans.fit(subset, k: candidate, restarts: 3, seed: seed)
        let labels = silhouetteIndices.map { fit.labels[$0] }
        let score = KMeans.silhouette(silhouettePoints, labels: labels, k: candidate)
        slots.baseAddress!.advanced(by: index).initialize(to: .init(k: candidate, silhouette: score, inertia: fit.inertia))
      }
      candidates = Array(tried)
      tried.baseAddress!.deinitialize(count: maxK - 1)
      k = candidates.max { $0.silhouette < $1.silhouette }!.k
      chosenBy = .silhouette
    }
    let fit = KMeans.fit(points, k: k, restarts: 4, seed: seed)
    let silhouetteIndices = sample(n, size: silhouetteSample, seed: seed &+ 2)
    let silhouette = KMeans.silhouette(points.rows(silhouetteIndices), labels: silhouetteIndices.map { fit.labels[$0] }, k: k)
    // Order clusters by mean monetary value, highest first, so ids read naturally.
    // Summed once: the clusters' totals once they are renumbered are the same sums reordered.
    let totals = GroupTotals(groups: k, membership: fit.labels, table: table)
    let profilesRaw = GroupProfile.profiles(names: Array(0..<k), totals: totals, customers: n)
    let order = (0..<k).sorted { profilesRaw[$0].meanMonetary > profilesRaw[$1].meanMonetary }
    var relabel = [Int32](repeating: 0, count: k)
    for (newIndex, old) in order.enumerated() { relabel[old] = Int32(newIndex) }
    let labels = fit.labels.map { relabel[Int($0)] }
    let profiles = GroupProfile.profiles(names: Array(0..<k), totals: totals.renumbered(order), customers: n)
    let centers = order.map { Array(fit.centers[$0 * 3..<($0 + 1) * 3]) }
    let overallOrderValue = table.monetary.reduce(0, +) / Double(table.frequency.reduce(0) { $0 + Int($1) })
    let orderValueIndex = profiles.map { $0.averageOrderValue / overallOrderValue }
    let names = clusterNames(centers: centers, orderValueIndex: orderValueIndex)
    let clusterProfiles = (0..<k).map { c in
      let profile = profiles[c].named(names[c])
      return AnalysisResult.ClusterProfile(id: c, name: names[c], profile: profile, center: centers[c], orderValueIndex: profile.averageOrderValue / overallOrderValue)
    }
    return Clustering(k: k, chosenBy: chosenBy, labels: labels, inertia: fit.inertia, silhouette: silhouette, candidates: candidates, profiles: clusterProfiles)
  }

  /// Names from what sets a cluster apart: its standardised centre (recency, frequency,
  /// spend z-scores) and its order value against all orders. A name is only given for a
  /// dimension where the cluster does differ: "high value" needs a spend above average
  /// (z > 0.3) *and* orders worth at least 1.2× the average order, so a cluster that spends
  /// more only by ordering more is not called so. Then "dormant" (recency z > 0.5; "dormant
  /// big spenders" with spend z > 0.3), "loyal regulars" (frequency z > 0.5), "recent
  /// newcomers" (recency z < −0.5, frequency z ≤ 0), else "occasional". A repeated name
  /// gets "(2)", "(3)"… by decreasing spend.
  static func clusterNames(centers: [[Double]], orderValueIndex: [Double]) -> [ClusterName] {
    var names: [ClusterName] = []
    for (c, center) in centers.enumerated() {
      let (recency, frequency, monetary) = (center[0], center[1], center[2])
      let base: ClusterKind
      if monetary > 0.3 && orderValueIndex[c] >= 1.2 && recency <= 0.5 {
        base = .highValue
      } else if recency > 0.5 {
        base = monetary > 0.3 ? .dormantBigSpenders : .dormant
      } else if frequency > 0.5 {
        base = .loyalRegulars
      } else if recency < -0.5 && frequency <= 0 {
        base = .recentNewcomers
      } else {
        base = .occasional
      }
      names.append(ClusterName(kind: base, rank: names.filter { $0.kind == base }.count + 1))
    }
    return names
  }

  func summary(seed: UInt64) -> AnalysisResult.ClusterSummary {
    .init(k: k, chosenBy: chosenBy, inertia: inertia, silhouette: silhouette, seed: seed, features: Self.featureNames, candidates: candidates, profiles: profiles)
  }
}
