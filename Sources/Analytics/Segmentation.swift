/// The standard RFM segments. Raw values are the names used in reports, exports and JSON.
public enum RFMSegment: String, CaseIterable, Sendable, Codable {
  case champions = "Champions"
  case loyal = "Loyal Customers"
  case potentialLoyalist = "Potential Loyalist"
  case newCustomers = "New Customers"
  case promising = "Promising"
  case needAttention = "Need Attention"
  case aboutToSleep = "About To Sleep"
  case atRisk = "At Risk"
  case cantLose = "Can't Lose Them"
  case hibernating = "Hibernating"
  case lost = "Lost"

  /// The segment of an R score and an FM score (both 1–5), FM = round-half-up((F + M) / 2).
  ///
  /// | R \ FM | 1 | 2 | 3 | 4 | 5 |
  /// |---|---|---|---|---|---|
  /// | 5 | New | Potential | Potential | Champions | Champions |
  /// | 4 | Promising | Potential | Potential | Loyal | Champions |
  /// | 3 | About To Sleep | About To Sleep | Need Attention | Loyal | Loyal |
  /// | 2 | Hibernating | Hibernating | At Risk | At Risk | Can't Lose |
  /// | 1 | Lost | Hibernating | At Risk | At Risk | Can't Lose |
  public static func of(r: Int, fm: Int) -> RFMSegment {
    switch (r, fm) {
    case (5, 1): .newCustomers
    case (5, 2...3), (4, 2...3): .potentialLoyalist
    case (5, 4...5), (4, 5): .champions
    case (4, 1): .promising
    case (4, 4), (3, 4...5): .loyal
    case (3, 1...2): .aboutToSleep
    case (3, 3): .needAttention
    case (1...2, 5): .cantLose
    case (1...2, 3...4): .atRisk
    case (2, 1...2), (1, 2): .hibernating
    default: .lost
    }
  }
}

/// The coarse lifecycle groups of the hand-written reports. Raw values are the JSON names.
public enum LifecycleGroup: String, CaseIterable, Sendable, Codable {
  case loyal, potential, new
  case atRisk = "at_risk"
  case lost

  /// The group of one customer, rules applied in this order:
  /// lost: recency > lostDays; at risk: recency > atRiskDays; new: first order at most
  /// atRiskDays before the reference date; loyal: FM score ≥ 4; potential: the others.
  public static func of(recency: Int, tenure: Int, fm: Int, atRiskDays: Int, lostDays: Int) -> LifecycleGroup {
    if recency > lostDays { return .lost }
    if recency > atRiskDays { return .atRisk }
    if tenure <= atRiskDays { return .new }
    return fm >= 4 ? .loyal : .potential
  }
}

/// RFM scores of every customer.
public struct RFMScores: Sendable {
  public var r: [UInt8]
  public var f: [UInt8]
  public var m: [UInt8]

  /// The FM score: the mean of F and M rounded half up.
  @inline(__always) public func fm(_ i: Int) -> Int { (Int(f[i]) + Int(m[i]) + 1) / 2 }

  /// Scores 1–5 by quintiles, higher is better (R: lower recency is better).
  ///
  /// Tie rule: customers are ranked 1…n by the value, ties broken by customer id in byte
  /// order; rank q falls in quintile max(1, ⌈5(q − 1)/(n − 1)⌉), which is what pandas gives
  /// with `pd.qcut(values.rank(method="first"), 5)` on a frame sorted by customer id.
  /// Without amounts (`monetary` false), M is taken as F, so that FM = F and the segments
  /// go by recency and frequency.
  public init(_ table: CustomerTable, monetary: Bool = true) {
    let idOrder = Self.idOrder(table.ids)
    let n = table.count
    /// Score of each rank (0-based) by the quintile rule.
    func score(rank0: Int) -> UInt8 { UInt8(max(1, (5 * rank0 + n - 2) / (n - 1))) }
    /// Whole numbers (recency, frequency): a counting sort, customers taken in id order so
    /// that ties stay in it — linear, where a sort of indices by two keys took most of the stage.
    func quintiles(_ values: [Int32]) -> [UInt8] {
      var scores = [UInt8](repeating: 3, count: n)
      guard n > 1, let low = values.min(), let high = values.max() else { return scores }
      let range = Int(high) - Int(low) + 1
      guard range <= 4 * n + 1024 else { return quintiles(values.map(Double.init)) }
      var start = [Int](repeating: 0, count: range + 1)
      for v in values { start[Int(v - low) + 1] += 1 }
      for k in 0..<range { start[k + 1] += start[k] }
      for i in idOrder {
        let k = Int(values[i] - low)
        scores[i] = score(rank0: start[k])
        start[k] += 1
      }
      return scores
    }
    /// Any numbers: (value, position in id order) pairs sorted contiguously.
    func quintiles(_ values: [Double]) -> [UInt8] {
      var scores = [UInt8](repeating: 3, count: n)
      guard n > 1 else { return scores }
      var pairs = idOrder.enumerated().map { (value: values[$0.element], position: Int32($0.offset), row: Int32($0.element)) }
      pairs.sort { $0.value != $1.value ? $0.value < $1.value : $0.position < $1.position }
      for (rank0, pair) in pairs.enumerated() { scores[Int(pair.row)] = score(rank0: rank0) }
      return scores
    }
    r = quintiles(table.recency).map { 6 - $0 }
    f = quintiles(table.frequency)
    m = monetary ? quintiles(table.monetary) : f
  }

  /// Rows in customer-id byte order. Ids compared by their first sixteen bytes as two
  /// integers first (zero-padded, which orders as the bytes do), by all their bytes only on
  /// a tie: ids that share their first eight bytes (`Clïent-0…`, `customer-00…`) made
  /// every comparison read both ids whole.
  static func idOrder(_ ids: CustomerIDs) -> [Int] {
    var keys = ids.indices.map { row -> (prefix: UInt64, next: UInt64, row: Int) in
      ids.withUTF8(row) { id in
        var (prefix, next): (UInt64, UInt64) = (0, 0)
        for (taken, byte) in id.prefix(8).enumerated() { prefix |= UInt64(byte) << (56 - 8 * taken) }
        for (taken, byte) in id.dropFirst(8).prefix(8).enumerated() { next |= UInt64(byte) << (56 - 8 * taken) }
        return (prefix, next, row)
      }
    }
    keys.sort { a, b in
      if a.prefix != b.prefix { return a.prefix < b.prefix }
      if a.next != b.next { return a.next < b.next }
      return ids.withUTF8(a.row) { x in ids.withUTF8(b.row) { y in x.lexicographicallyPrecedes(y) } }
    }
    return keys.map(\.row)
  }
}

/// Aggregate figures of a group of customers (a segment, a lifecycle group, a cluster),
/// named by `Name`.
public struct GroupProfile<Name: Sendable & Codable & Equatable>: Sendable, Codable, Equatable {
  public var name: Name
  public var customers: Int
  /// Share of all customers, 0–1.
  public var share: Double
  public var revenue: Double
  /// Share of all revenue, 0–1.
  public var revenueShare: Double
  public var orders: Int
  public var meanRecency: Double
  public var meanFrequency: Double
  public var meanMonetary: Double
  /// Revenue of the group divided by its orders.
  public var averageOrderValue: Double

  /// Profiles of the groups given by `membership` (a group index per customer).
  static func profiles(names: [Name], membership: [Int], table: CustomerTable) -> [GroupProfile] {
    profiles(names: names, totals: GroupTotals(groups: names.count, membership: membership, table: table), customers: table.count)
  }

  /// Profiles of groups from their totals, group `g` named `names[g]`.
  static func profiles(names: [Name], totals: GroupTotals, customers: Int) -> [GroupProfile] {
    let (counts, revenue, orders, recency) = (totals.counts, totals.revenue, totals.orders, totals.recency)
    let totalRevenue = revenue.reduce(0, +)
    let n = Double(customers)
    return names.indices.map { g in
      let c = Double(counts[g])
      return GroupProfile(
        name: names[g], customers: counts[g], share: n > 0 ? c / n : 0, revenue: revenue[g],
        revenueShare: totalRevenue > 0 ? revenue[g] / totalRevenue : 0, orders: orders[g],
        meanRecency: c > 0 ? recency[g] / c : 0, meanFrequency: c > 0 ? Double(orders[g]) / c : 0,
        meanMonetary: c > 0 ? revenue[g] / c : 0, averageOrderValue: orders[g] > 0 ? revenue[g] / Double(orders[g]) : 0)
    }
  }

  /// The same figures under another name.
  func named<Other>(_ name: Other) -> GroupProfile<Other> {
    GroupProfile<Other>(
      name: name, customers: customers, share: share, revenue: revenue, revenueShare: revenueShare, orders: orders, meanRecency: meanRecency,
      meanFrequency: meanFrequency, meanMonetary: meanMonetary, averageOrderValue: averageOrderValue)
  }
}

/// Each group's customers, revenue, orders and days since the last order, summed in
/// customer order.
struct GroupTotals {
  var counts: [Int]
  var revenue: [Double]
  var orders: [Int]
  var recency: [Double]

  init<Group: BinaryInteger>(groups k: Int, membership: [Group], table: CustomerTable) {
    counts = [Int](repeating: 0, count: k)
    revenue = [Double](repeating: 0, count: k)
    orders = [Int](repeating: 0, count: k)
    recency = [Double](repeating: 0, count: k)
    // Through the buffers: four array updates per customer each checked whether the
    // array was shared, a million times.
    withMutableBuffers(&counts, &revenue) { counts, revenue in
      withMutableBuffers(&orders, &recency) { orders, recency in
        for i in 0..<table.count {
          let g = Int(membership[i])
          counts[g] += 1
          revenue[g] += table.monetary[i]
          orders[g] += Int(table.frequency[i])
          recency[g] += Double(table.recency[i])
        }
      }
    }
  }

  /// The same totals with group `g` holding those of `order[g]`: the totals of the groups
  /// renumbered so, to the bit (each group's customers are the same, in the same order).
  func renumbered(_ order: [Int]) -> GroupTotals {
    var copy = self
    copy.counts = order.map { counts[$0] }
    copy.revenue = order.map { revenue[$0] }
    copy.orders = order.map { orders[$0] }
    copy.recency = order.map { recency[$0] }
    return copy
  }
}
