import Foundation
import Testing

@testable import Analytics

/// Purchases drawn from a fixed generator, for tests that need a realistic base.
func sampleData(customers: Int = 600, seed: UInt64 = 3) -> TransactionData {
  try! TransactionIngestor.ingest(Array(sampleCSV(customers: customers, seed: seed).utf8))
}

/// The CSV of `sampleData`: customer_id, order_id, order_date (ISO), amount, category, promo.
func sampleCSV(customers: Int = 600, seed: UInt64 = 3) -> String {
  var rng = SplitMix64(seed: seed)
  var csv = "customer_id,order_id,order_date,amount,category,promo\n"
  var order = 0
  let start = daysFromCivil(year: 2024, month: 1, day: 1)
  for c in 0..<customers {
    let orders = 1 + Int(rng.next() % 8)
    var day = start + Int(rng.next() % 600)
    let base = 10 + Double(rng.next() % 200)
    for _ in 0..<orders where day < start + 730 {
      order += 1
      let amount = base * (0.5 + rng.nextUnit())
      csv += "C\(c),O\(order),\(isoDate(day)),\(String(format: "%.2f", amount)),cat\(rng.next() % 4),\(rng.next() % 5 == 0 ? 1 : 0)\n"
      day += 1 + Int(rng.next() % 120)
    }
  }
  return csv
}

@Suite("Analysis")
struct AnalysisTests {
  @Test("every customer is in exactly one segment and one group; counts and shares add up")
  func partitions() throws {
    let (result, customers) = try Analyzer.run(sampleData())
    #expect(result.rfm.segments.map(\.customers).reduce(0, +) == result.customers)
    #expect(result.lifecycle.groups.map(\.customers).reduce(0, +) == result.customers)
    #expect(result.clusters.profiles.map(\.profile.customers).reduce(0, +) == result.customers)
    #expect(abs(result.lifecycle.groups.map(\.share).reduce(0, +) - 1) < 1e-9)
    #expect(abs(result.lifecycle.groups.map(\.revenueShare).reduce(0, +) - 1) < 1e-9)
    #expect(abs(result.rfm.segments.map(\.revenue).reduce(0, +) - result.revenue) < 1e-6)
    #expect(customers.table.count == result.customers)
    #expect(result.kpis.engagedCustomers + result.kpis.inactiveCustomers == result.customers)
  }

  @Test("same input and seed give the same result")
  func deterministic() throws {
    let a = try Analyzer.run(sampleData()).result
    let b = try Analyzer.run(sampleData()).result
    #expect(try a.jsonData() == b.jsonData())
  }

  @Test("RFM quintiles: ranks split in five equal groups with the pandas qcut rule")
  func quintiles() {
    var data = TransactionData()
    data.customerIDs = CustomerIDs((0..<10).map { "c\($0)" })
    for c in 0..<10 {
      data.orderCustomer.append(Int32(c))
      data.orderDay.append(Int32(100 + c))
      data.orderAmount.append(Double(c + 1))
      data.orderPromo.append(false)
    }
    let scores = RFMScores(CustomerTable(data))
    #expect(scores.m.map(Int.init) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    #expect(scores.r.map(Int.init) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
  }

  @Test("segment map covers every score pair", arguments: 1...5)
  func segmentMap(r: Int) {
    for fm in 1...5 { _ = RFMSegment.of(r: r, fm: fm) }
    #expect(RFMSegment.of(r: 5, fm: 5) == .champions)
    #expect(RFMSegment.of(r: 1, fm: 1) == .lost)
    #expect(RFMSegment.of(r: 1, fm: 5) == .cantLose)
  }

  @Test("no NaN or infinity anywhere in the JSON")
  func finite() throws {
    let json = String(decoding: try Analyzer.run(sampleData(customers: 50)).result.jsonData(), as: UTF8.self)
    #expect(!json.contains("nan"))
    #expect(!json.contains("inf"))
  }

  @Test("options out of range are refused with the option's name", arguments: ["clusters", "lost_days", "currency"])
  func invalidOptions(name: String) {
    var options = AnalysisOptions()
    switch name {
    case "clusters": options.clusters = 1
    case "lost_days": options.lostDays = 10
    default: options.currency = "euro"
    }
    #expect(throws: AnalysisError.self) { try options.validate() }
    do { try options.validate() } catch { #expect(error.description.contains(name)) }
  }
}

@Suite("Customer table")
struct CustomerTableTests {
  @Test("cut into slices of customers, one per core, the sort of many orders still equals a stable sort")
  func orderSortInSlices() {
    var rng = SplitMix64(seed: 99)
    var data = TransactionData()
    let customers = 20_000
    data.customerIDs = CustomerIDs((0..<customers).map { "C\($0)" })
    for _ in 0..<200_000 {
      // Customer 0 has many orders, customers from 15,000 none: slices of unequal widths.
      let customer = rng.next() % 5 == 0 ? 0 : Int32(rng.next() % 15_000)
      data.orderCustomer.append(customer)
      data.orderDay.append(Int32(rng.next() % 400))
      data.orderAmount.append(1)
      data.orderPromo.append(false)
    }
    var counts = [Int32](repeating: 0, count: customers)
    for c in data.orderCustomer { counts[Int(c)] += 1 }
    let expected = (0..<data.orderCount).sorted { a, b in
      (data.orderCustomer[a], data.orderDay[a], a) < (data.orderCustomer[b], data.orderDay[b], b)
    }
    #expect(CustomerTable.ordersByCustomerAndDay(data, counts: counts) == expected.map(Int32.init))
  }

  @Test(
    "orders by customer and day in linear time equal a stable sort on that key; data in that order gives the same table and KPIs",
    // From 65,536 orders, they are sorted in slices of customers, one per core.
    arguments: [(1, 5000), (7, 5000), (300, 5000), (30, 66_000)])
  func orderSort(_ most: Int, orders: Int) {
    var rng = SplitMix64(seed: UInt64(most))
    var data = TransactionData()
    data.customerIDs = CustomerIDs((0..<50).map { "C\($0)" })
    for _ in 0..<orders {
      // Customer 0 has many orders (past the insertion sort's reach); days repeat.
      data.orderCustomer.append(rng.next() % 4 == 0 ? 0 : Int32(rng.next() % 50))
      data.orderDay.append(Int32(rng.next() % UInt64(most)))
      // Whole amounts: sums are exact in any order.
      data.orderAmount.append(Double(rng.next() % 90 + 1))
      data.orderPromo.append(rng.next() % 3 == 0)
    }
    var counts = [Int32](repeating: 0, count: 50)
    for c in data.orderCustomer { counts[Int(c)] += 1 }
    let expected = (0..<data.orderCount).sorted { a, b in
      (data.orderCustomer[a], data.orderDay[a], a) < (data.orderCustomer[b], data.orderDay[b], b)
    }
    #expect(CustomerTable.ordersByCustomerAndDay(data, counts: counts) == expected.map(Int32.init))
    // The ingestor's order: the same orders, by customer and day, and the same table and KPIs.
    var sorted = data
    sorted.sortOrdersByCustomerAndDay()
    #expect(sorted.isOrderedByCustomerAndDay)
    #expect(sorted.orderCustomer == expected.map { data.orderCustomer[$0] })
    #expect(sorted.orderDay == expected.map { data.orderDay[$0] })
    #expect(sorted.orderAmount == expected.map { data.orderAmount[$0] })
    #expect(sorted.orderPromo == expected.map { data.orderPromo[$0] })
    let (table, sortedTable) = (CustomerTable(data), CustomerTable(sorted))
    #expect(sortedTable.ordersByCustomer == Array(0..<Int32(data.orderCount)))
    #expect(sortedTable.monetary == table.monetary && sortedTable.purchaseDays == table.purchaseDays)
    #expect(sortedTable.firstDaySpend == table.firstDaySpend && sortedTable.paidRepeatSpend == table.paidRepeatSpend)
    #expect(sortedTable.recency == table.recency && sortedTable.firstDay == table.firstDay)
    #expect(Indicators.compute(sorted, table: sortedTable, atRiskDays: 30) == Indicators.compute(data, table: table, atRiskDays: 30))
  }
}

@Suite("K-Means")
struct KMeansTests {
  @Test("recovers well-separated clusters and keeps the lowest inertia")
  func separated() {
    var values: [Double] = []
    var rng = SplitMix64(seed: 1)
    for c in 0..<3 {
      for _ in 0..<200 {
        values += [Double(c) * 10 + rng.nextUnit(), Double(c) * -5 + rng.nextUnit()]
      }
    }
    let points = PointMatrix(values: values, dimensions: 2)
    let fit = KMeans.fit(points, k: 3, restarts: 3, seed: 9)
    #expect(Set(fit.labels[0..<200]).count == 1)
    #expect(Set(fit.labels).count == 3)
    #expect(fit.inertia < 600 * 0.2)
    #expect(KMeans.silhouette(points, labels: fit.labels, k: 3) > 0.9)
  }

  /// The silhouette as defined, point by point, each sum over the other points in index
  /// order, the scores added in eight runs: what the report's figures were computed with.
  static func plainSilhouette(_ points: PointMatrix, labels: [Int32], k: Int) -> Double {
    let (n, d) = (points.count, points.dimensions)
    var sizes = [Int](repeating: 0, count: k)
    for l in labels { sizes[Int(l)] += 1 }
    let runs = max(1, min(n, 8))
    var total = 0.0
    for run in 0..<runs {
      var partial = 0.0
      for i in (run * n / runs)..<((run + 1) * n / runs) {
        var sums = [Double](repeating: 0, count: k)
        for other in 0..<n where other != i {
          var s = 0.0
          for j in 0..<d { s += (points.values[i * d + j] - points.values[other * d + j]) * (points.values[i * d + j] - points.values[other * d + j]) }
          sums[Int(labels[other])] += s.squareRoot()
        }
        let own = Int(labels[i])
        guard sizes[own] > 1 else { continue }
        let a = sums[own] / Double(sizes[own] - 1)
        var b = Double.infinity
        for c in 0..<k where c != own && sizes[c] > 0 { b = min(b, sums[c] / Double(sizes[c])) }
        partial += (b - a) / max(a, b)
      }
      total += partial
    }
    return total / Double(n)
  }

  @Test(
    "the silhouette of three features, taken eight points at a time, is the plain one to the bit",
    arguments: [2, 7, 8, 9, 100, 1001])
  func silhouetteOfThreeFeatures(points n: Int) {
    var rng = SplitMix64(seed: UInt64(n))
    let values = (0..<n * 3).map { _ in rng.nextUnit() * 4 - 2 }
    let points = PointMatrix(values: values, dimensions: 3)
    // Four clusters, one of them a single point and one empty (k = 5).
    var labels = (0..<n).map { _ in Int32(rng.next() % 3) }
    labels[n - 1] = 3
    let score = KMeans.silhouette(points, labels: labels, k: 5)
    #expect(score.bitPattern == Self.plainSilhouette(points, labels: labels, k: 5).bitPattern)
  }

  /// Lloyd's algorithm as defined: assign every point, then each centre the mean of its
  /// points, summed point after point; until no label changes or the centres stop moving.
  static func plainLloyd(_ points: PointMatrix, centers start: [Double], shiftThreshold: Double) -> (centers: [Double], labels: [Int32]) {
    let (n, d) = (points.count, points.dimensions)
    let k = start.count / d
    var (centers, labels) = (start, [Int32](repeating: -1, count: n))
    func nearest(_ i: Int) -> Int32 {
      var (best, bestDistance) = (0, Double.infinity)
      for c in 0..<k {
        var s = 0.0
        for j in 0..<d { s += (points.values[i * d + j] - centers[c * d + j]) * (points.values[i * d + j] - centers[c * d + j]) }
        if s < bestDistance { (best, bestDistance) = (c, s) }
      }
      return Int32(best)
    }
    for iteration in 1...300 {
      var changed = 0
      for i in 0..<n {
        let best = nearest(i)
        if labels[i] != best { (labels[i], changed) = (best, changed + 1) }
      }
      if changed == 0 && iteration > 1 { break }
      var sums = [Double](repeating: 0, count: k * d)
      var counts = [Double](repeating: 0, count: k)
      for i in 0..<n {
        counts[Int(labels[i])] += 1
        for j in 0..<d { sums[Int(labels[i]) * d + j] += points.values[i * d + j] }
      }
      let next = (0..<k * d).map { sums[$0] / counts[$0 / d] }
      let shift = zip(next, centers).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
      centers = next
      if shift <= shiftThreshold {
        // The labels of the final centres, as scikit-learn's last assignment gives them.
        for i in 0..<n { labels[i] = nearest(i) }
        break
      }
    }
    return (centers, labels)
  }

  @Test(
    "Lloyd's step, assigning and summing in one pass in blocks on every core, ends where the plain two passes end",
    arguments: [(3, 3), (3, 12), (2, 4)])
  func lloydInBlocks(dimensions d: Int, k: Int) {
    // Three blocks and a bit: the sums of several blocks are added.
    let n = KMeans.lloydBlock * 3 + 123
    var rng = SplitMix64(seed: UInt64(d * 100 + k))
    let values = (0..<n * d).map { i in rng.nextUnit() * 2 + Double(i / d % k) * 0.7 }
    let points = PointMatrix(values: values, dimensions: d)
    let start = Array(values[0..<k * d])
    let threshold = 1e-4 * KMeans.meanVariance(points)
    let fit = KMeans.lloyd(points, initialCenters: start, shiftThreshold: threshold)
    let plain = Self.plainLloyd(points, centers: start, shiftThreshold: threshold)
    // Summed in another order, the means may differ in their last bits, never more.
    #expect(zip(fit.centers, plain.centers).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) })
    #expect(fit.labels == plain.labels)
    let inertia = (0..<n).map { i in (0..<d).map { j in pow(values[i * d + j] - fit.centers[Int(fit.labels[i]) * d + j], 2) }.reduce(0, +) }.reduce(0, +)
    #expect(abs(fit.inertia - inertia) <= 1e-12 * inertia)
  }

  @Test("k-means++ seeds are points of the data, distinct, and the same from the same seed")
  func seedsInBlocks() {
    let n = KMeans.lloydBlock * 2 + 77
    var rng = SplitMix64(seed: 5)
    let points = PointMatrix(values: (0..<n * 3).map { _ in rng.nextUnit() }, dimensions: 3)
    var first = SplitMix64(seed: 11), second = SplitMix64(seed: 11)
    let seeds = KMeans.plusPlusSeeds(points, k: 6, rng: &first)
    #expect(seeds == KMeans.plusPlusSeeds(points, k: 6, rng: &second))
    let rows = Set((0..<n).map { Array(points.values[$0 * 3..<$0 * 3 + 3]) })
    let chosen = (0..<6).map { Array(seeds[$0 * 3..<$0 * 3 + 3]) }
    #expect(chosen.allSatisfy(rows.contains) && Set(chosen).count == 6)
  }

  @Test("Lloyd from given centres converges to the means of its labels")
  func lloydFixedPoint() {
    let points = PointMatrix(values: [0, 0, 0, 1, 10, 10, 10, 11], dimensions: 2)
    let fit = KMeans.lloyd(points, initialCenters: [0, 0, 10, 10])
    #expect(fit.centers == [0, 0.5, 10, 10.5])
    #expect(abs(fit.inertia - 1) < 1e-12)
    #expect(fit.converged)
  }
}

@Suite("Lifetime value")
struct LifetimeTests {
  @Test("digamma and 2F1 match known values")
  func specialFunctions() {
    #expect(abs(digamma(1) + 0.5772156649015329) < 1e-10)
    #expect(abs(digamma(0.5) + 1.9635100260214235) < 1e-10)
    #expect(abs(hypergeometric2F1(1, 1, 2, 0.5) - (-log(0.5) / 0.5)) < 1e-12)
  }

  @Test(
    "each element's distinct value is the element itself, in order of first appearance",
    arguments: [
      [3, 0, 3, 1, 7, 0, 1, 1],  // whole and small: found through an array
      [2.5, 1, 2.5, -4, 0.1, 1e9, 1e9, 70_000],  // halves, negatives, large: a dictionary
      [],
      // Enough for slices on every core, with values first seen in a late slice.
      (0..<200_000).map { Double(($0 * 7919) % 1_000 + ($0 > 150_000 ? 1_000 : 0)) },
      (0..<200_000).map { Double(($0 * 31) % 977) } + [0.5],
    ] as [[Double]])
  func distinctValues(_ elements: [Double]) {
    let distinct = DistinctValues(elements)
    #expect(distinct.index.count == elements.count)
    #expect(elements.indices.allSatisfy { distinct.values[Int(distinct.index[$0])] == elements[$0] })
    #expect(Set(distinct.values).count == distinct.values.count)
    var seen: [Double] = []
    var known = Set<Double>()
    for value in elements where known.insert(value).inserted { seen.append(value) }
    #expect(distinct.values == seen)
    let scaled = distinct.scaled(by: 1 / 730)
    #expect(elements.indices.allSatisfy { scaled.values[Int(scaled.index[$0])] == elements[$0] * (1 / 730) })
  }

  @Test("a search whose step would gain less than the rounding of the objective stops there, without a line search of evaluations")
  func searchStopsAtTheArithmeticsResolution() {
    let centre = [0.3, -1.2]
    var evaluations = 0
    // A bowl with rounding-sized noise, as a sum over many customers has: near the bottom,
    // a step's gain is lost in it.
    func bowl(_ x: [Double]) -> (Double, [Double]) {
      evaluations += 1
      let noise = Double(Int(truncatingIfNeeded: (x[0].bitPattern ^ x[1].bitPattern &* 31) % 7) - 3) * 2e-16
      return (1 + zip(x, centre).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) + noise, zip(x, centre).map { 2 * ($0 - $1) })
    }
    let result = minimizeBFGS(bowl, start: [0.3 + 3e-8, -1.2 - 2e-8])
    #expect(result.converged)
    #expect(evaluations <= 2)
    // Further away, the search takes its steps as before.
    evaluations = 0
    let far = minimizeBFGS(bowl, start: [2, 2])
    #expect(far.converged && zip(far.point, centre).allSatisfy { abs($0 - $1) < 1e-6 })
  }

  @Test(
    "a fit started from a chain of evenly spaced samples reaches the optimum of the fit started from 1s",
    arguments: PurchaseModel.allCases)
  func chainedWarmStart(model: PurchaseModel) {
    // Customers who buy at exponentially distributed rates (a purchase every 20 days on
    // average) until they leave at rates of their own (300 days on average), observed 100 to
    // 400 days.
    var rng = SplitMix64(seed: 21)
    func exponential(mean: Double) -> Double { -log(1 - rng.nextUnit()) * mean }
    let n = 12_000
    var (x, tx, age) = ([Double](), [Double](), [Double]())
    for _ in 0..<n {
      let observed = Double(100 + rng.next() % 301)
      let (gap, lifetime) = (exponential(mean: 20) * -log(1 - rng.nextUnit()), min(observed, exponential(mean: exponential(mean: 300))))
      var (time, days, last) = (exponential(mean: gap), 0.0, 0.0)
      while time < lifetime {
        if time.rounded(.down) > last { (days, last) = (days + 1, time.rounded(.down)) }
        time += exponential(mean: gap)
      }
      (x, tx, age) = (x + [days], tx + [last], age + [observed])
    }
    let summary = RepeatSummary(frequency: x, recency: tx, age: age, monetaryValue: [Double](repeating: 10, count: n))
    #expect(LifetimeModels.warmStartStride(n, smallest: LifetimeModels.purchaseWarmStartCustomers) != nil)
    let distinct = DistinctCustomers(summary)
    let chained = LifetimeModels.fit(model, to: summary, distinct: distinct, from: nil)
    let direct = LifetimeModels.fit(model, to: distinct)
    #expect(chained.fit.converged && direct.fit.converged, "\(chained) \(direct)")
    #expect(abs(chained.fit.logLikelihood - direct.fit.logLikelihood) <= 1e-10 * abs(direct.fit.logLikelihood))
    #expect(abs(chained.r - direct.r) <= 1e-4 * direct.r && abs(chained.alpha - direct.alpha) <= 1e-4 * direct.alpha)
  }

  @Test("BG/NBD and Gamma-Gamma give bounded, finite parameters and predictions, and say whether they converged")
  func bgnbd() throws {
    let (result, customers) = try Analyzer.run(sampleData(customers: 800))
    let m = result.clv.purchaseModel
    #expect(m.fit.converged || !m.fit.message.isEmpty)
    let dropout: [Double] =
      switch m.dropout {
      case .bgnbd(let a, let b), .mbgnbd(let a, let b): [a, b]
      case .pareto(let s, let beta): [s, beta]
      }
    #expect(([m.r, m.alpha] + dropout).allSatisfy { $0.isFinite && $0 > 0 })
    #expect(customers.probabilityAlive.allSatisfy { $0 >= 0 && $0 <= 1 })
    #expect(customers.predictedCLV.allSatisfy { $0.isFinite && $0 >= 0 })
    #expect(result.clv.gammaGamma.fit.converged || !result.clv.gammaGamma.fit.message.isEmpty)
  }
}

/// Pareto/NBD's likelihood integral ∫_{t_x}^{T} (α+τ)^−(r+x) (β+τ)^−(s+1) dτ, taken by
/// Gauss–Legendre panels with a tail cut, against independent ways of computing it.
@Suite("Pareto/NBD")
struct ParetoNBDTests {
  /// One customer's integral under one set of parameters.
  struct Case: Sendable, CustomStringConvertible {
    var r, alpha, s, beta, x, tx, age: Double
    var description: String { "r=\(r) α=\(alpha) s=\(s) β=\(beta) x=\(x) t_x=\(tx) T=\(age)" }
    var p: Double { r + x }
    var q: Double { s + 1 }
    /// ln I, less ln of its scale (α+t_x)^−p (β+t_x)^−q (γ+T).
    func quadrature() -> Double {
      log(ParetoNBD.integrals(alpha: alpha, beta: beta, p: p, q: q, from: tx, to: age, gradient: false).value)
    }
    var logScale: Double { -p * log(alpha + tx) - q * log(beta + tx) + log(min(alpha, beta) + age) }
  }

  @Test("equals the closed form when α = β", arguments: [
    Case(r: 0.5, alpha: 2, s: 0.7, beta: 2, x: 0, tx: 0, age: 300),
    Case(r: 0.05, alpha: 1e-5, s: 0.02, beta: 1e-5, x: 0, tx: 0, age: 700),
    Case(r: 1.3, alpha: 40, s: 1.6, beta: 40, x: 180, tx: 350, age: 365),
    Case(r: 2, alpha: 0.3, s: 5, beta: 0.3, x: 12, tx: 1, age: 900),
    Case(r: 1e6, alpha: 2e5, s: 150, beta: 2e5, x: 3, tx: 0, age: 0.9),
  ])
  func closedForm(_ c: Case) {
    let m = c.p + c.q - 1
    // [(α+t_x)^−m − (α+T)^−m] / m over the scale, as it simplifies for α = β.
    let exact = log(c.alpha + c.tx) + log(-expm1(-m * log1p((c.age - c.tx) / (c.alpha + c.tx)))) - log(m) - log(c.alpha + c.age)
    #expect(abs(c.quadrature() - exact) < 1e-10, "\(c)")
  }

  @Test("equals lifetimes' hypergeometric form where its series converges", arguments: [
    Case(r: 0.55, alpha: 10.6, s: 0.61, beta: 11.7, x: 2, tx: 30, age: 38),
    Case(r: 1.28, alpha: 80, s: 1.69, beta: 644, x: 0, tx: 0, age: 600),
    Case(r: 0.8, alpha: 400, s: 0.3, beta: 90, x: 7, tx: 200, age: 500),
    Case(r: 3, alpha: 5, s: 2, beta: 9, x: 60, tx: 20, age: 700),
  ])
  func hypergeometric(_ c: Case) {
    // Fader & Hardie (2005), eq. 19–20, as lifetimes' _log_A_0 writes them: A₀ / (r+s+x).
    let (low, high) = (min(c.alpha, c.beta), max(c.alpha, c.beta))
    let b = c.alpha < c.beta ? c.r + c.x : c.s + 1
    let rsx = c.r + c.s + c.x
    let f1 = hypergeometric2F1(rsx, b, rsx + 1, (high - low) / (high + c.tx))
    let f2 = hypergeometric2F1(rsx, b, rsx + 1, (high - low) / (high + c.age))
    let a0 = f1 / pow(high + c.tx, rsx) - f2 / pow(high + c.age, rsx)
    #expect(abs(c.quadrature() + c.logScale - log(a0 / rsx)) < 1e-9, "\(c)")
  }

  @Test("panels much narrower than the integrand allows, taken with 4, 6 or 8 points, give what 12 points give")
  func fewerPoints() {
    // SplitMix64: the same cases on every run.
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func uniform() -> Double {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }
    func logUniform(_ low: Double, _ high: Double) -> Double { exp(log(low) + uniform() * log(high / low)) }
    var worst = (value: 0.0, gradient: 0.0)
    for _ in 0..<20_000 {
      // Scaled time (T ≤ 1) as the fits see it; a customer's whole integral, or the short
      // piece between the T of two customers with the same (x, t_x).
      let (alpha, beta) = (logUniform(1e-3, 1e2), logUniform(1e-3, 1e2))
      let x = uniform() < 0.5 ? Double(Int(uniform() * 6)) : Double(Int(logUniform(1, 300)))
      let (p, q) = (logUniform(0.02, 50) + x, logUniform(0.02, 50) + 1)
      let tx = uniform() < 0.5 ? 0 : uniform()
      let age = tx + (1 - tx) * uniform()
      let lower = uniform() < 0.5 ? tx : max(tx, age - logUniform(1e-5, 0.3))
      func taken(_ fewer: Bool, from lower: Double) -> ParetoNBD.Integrals {
        ParetoNBD.integrals(alpha: alpha, beta: beta, p: p, q: q, reference: tx, from: lower, to: age, gradient: true, fewerPoints: fewer)
      }
      let whole = taken(false, from: tx)
      guard whole.value > 1e-250 else { continue }
      let (fewer, twelve) = (taken(true, from: lower), taken(false, from: lower))
      // Errors in the scale of the customer's whole integral, to which a piece is added.
      let scale = whole.value * (2 + abs(whole.logAlpha / whole.value) + abs(whole.logBeta / whole.value))
      worst.value = max(worst.value, abs(fewer.value - twelve.value) / whole.value)
      worst.gradient = max(
        worst.gradient,
        [fewer.logAlpha - twelve.logAlpha, fewer.shareAlpha - twelve.shareAlpha, fewer.logBeta - twelve.logBeta, fewer.shareBeta - twelve.shareBeta].map(abs).max()! / scale)
    }
    // 12 points on every panel are themselves within about 1e-14 of panels six times finer.
    #expect(worst.value < 1e-14 && worst.gradient < 1e-14, "\(worst)")
  }

  @Test("the gradient is the objective's slope", arguments: [[0.0, 0.0, 0.0, 0.0], [-0.4, -1.9, 0.5, 0.8], [0.25, -3.0, -1.2, -3.5]])
  func gradient(_ theta: [Double]) {
    let data = sampleData(customers: 300)
    let sample = ParetoNBD.Sample(RepeatSummary(CustomerTable(data)))
    let (_, g) = ParetoNBD.objective(theta, sample)
    for k in 0..<4 {
      var up = theta, down = theta
      up[k] += 1e-5
      down[k] -= 1e-5
      let slope = (ParetoNBD.objective(up, sample).0 - ParetoNBD.objective(down, sample).0) / 2e-5
      #expect(abs(slope - g[k]) < 1e-6 * max(1, abs(g[k])), "θ=\(theta) k=\(k): \(slope) vs \(g[k])")
    }
  }

  @Test("the likelihood summed along runs of equal (x, t_x) equals the sum of each customer's own integral", arguments: [[0.0, 0.0, 0.0, 0.0], [-0.4, -1.9, 0.5, 0.8], [1.5, 2.0, -2.0, -1.0]])
  func runs(_ theta: [Double]) {
    let sample = ParetoNBD.Sample(RepeatSummary(CustomerTable(sampleData(customers: 500))))
    var runs = 0
    for i in 1..<sample.x.count where sample.x[i] == sample.x[i - 1] && sample.tx[i] == sample.tx[i - 1] { runs += 1 }
    #expect(runs > 100, "the sample must have runs to test them")
    let (r, alpha, s, beta) = (exp(theta[0]), exp(theta[1]), exp(theta[2]), exp(theta[3]))
    var ll = 0.0
    for i in sample.x.indices {
      let t = ParetoNBD.terms(r: r, alpha: alpha, s: s, beta: beta, x: sample.x[i], tx: sample.tx[i], age: sample.age[i], gradient: false)
      ll += sample.weight[i] * (lgamma(r + sample.x[i]) - lgamma(r) + t.top + log(t.bracket))
    }
    let value = ParetoNBD.objective(theta, sample).0
    #expect(abs(value - -ll / sample.total) < 1e-12 * max(1, abs(value)), "\(value) vs \(-ll / sample.total)")
  }

  @Test(
    "a run's integrals continued by parts taken once per (x, previous T, T) equal each customer's own, gradient included",
    arguments: [[0.0, 0.0, 0.0, 0.0], [-0.4, -1.9, 0.5, 0.8], [1.5, 2.0, -2.0, -1.0], [13.8, 12.0, -3.0, -5.0], [-3.0, -6.0, 2.0, -4.0]])
  func parts(_ theta: [Double]) {
    let sample = ParetoNBD.Sample(RepeatSummary(CustomerTable(sampleData(customers: 3000))))
    let continuing = sample.partOfRow.filter { $0 >= 0 }.count
    // Runs end at a block's edge. (Here few parts are shared: at a million customers, one
    // part served about five rows.)
    #expect(continuing > 1000 && sample.parts.x.count <= continuing, "\(continuing) rows, \(sample.parts.x.count) parts")
    #expect(sample.partOfRow.indices.allSatisfy { $0 % ParetoNBD.Sample.blockSize != 0 || sample.partOfRow[$0] < 0 })
    let (r, alpha, s, beta) = (exp(theta[0]), exp(theta[1]), exp(theta[2]), exp(theta[3]))
    let parts = ParetoNBD.parts(sample, r: r, alpha: alpha, s: s, beta: beta)
    var previous = ParetoNBD.Integrals()
    var worst = 0.0
    for i in sample.x.indices {
      let (x, tx, age) = (sample.x[i], sample.tx[i], sample.age[i])
      let own = ParetoNBD.integrals(alpha: alpha, beta: beta, p: r + x, q: s + 1, from: tx, to: age, gradient: true)
      let part = Int(sample.partOfRow[i])
      guard part >= 0 else {
        previous = own
        continue
      }
      #expect(sample.parts.x[part] == x && sample.parts.from[part] == sample.age[i - 1] && sample.parts.to[part] == age)
      let ints = ParetoNBD.continued(previous, part: parts[part], alpha: alpha, beta: beta, p: r + x, q: s + 1, tx: tx, from: sample.age[i - 1], to: age)
      previous = ints
      // Each integral against the customer's own, in the scale of its value.
      let pairs = [(ints.value, own.value), (ints.logAlpha, own.logAlpha), (ints.shareAlpha, own.shareAlpha), (ints.logBeta, own.logBeta), (ints.shareBeta, own.shareBeta)]
      for (continued, direct) in pairs { worst = max(worst, abs(continued - direct) / max(own.value, 1e-300)) }
    }
    // At most about 6e-15 on these five points.
    #expect(worst < 1e-13, "θ=\(theta): \(worst)")
  }

  @Test("a homogeneous population's optimum lies at infinity: the fit stops near the search bound, converged, in few steps")
  func homogeneous() {
    // sampleData draws every customer's gaps from one distribution: no rate heterogeneity.
    let fit = ParetoNBD.fit(DistinctCustomers(RepeatSummary(CustomerTable(sampleData(customers: 400)))))
    #expect(fit.fit.converged && fit.fit.iterations < 200, "\(fit.fit)")
    // The gamma heterogeneity vanishes: shape parameters run to the bound (10⁶).
    #expect(fit.r > 1e5, "r=\(fit.r)")
    #expect(fit.r.isFinite && fit.alpha.isFinite)
  }

  @Test("predictions: P(alive) in [0, 1], 1 for a purchase today; expected purchases continuous through s = 1")
  func predictions() {
    let fit = ModelFit(converged: true, iterations: 1, logLikelihood: 0, message: "")
    let model = { (s: Double) in PurchaseModelParameters(r: 0.8, alpha: 40, dropout: .pareto(s: s, beta: 300), fit: fit) }
    let alive = CustomerOutlook(model(1), x: 3, tx: 200, age: 200)
    #expect(alive.probabilityAlive == 1)
    let silent = CustomerOutlook(model(1), x: 3, tx: 20, age: 400)
    #expect(silent.probabilityAlive > 0 && silent.probabilityAlive < 1)
    let atOne = CustomerOutlook(model(1), x: 3, tx: 100, age: 300).expectedPurchases(180)
    for s in [1 - 1e-7, 1 + 1e-7] {
      #expect(abs(CustomerOutlook(model(s), x: 3, tx: 100, age: 300).expectedPurchases(180) / atOne - 1) < 1e-6)
    }
  }
}

/// The per-customer CSV reads back, by column name, into the values it was written from.
@Suite("Customer export")
struct CustomerExportTests {
  @Test("every row decodes to its customer's segment, group and cluster")
  func roundTrip() throws {
    var csv = "customer_id,order_date,amount\n"
    for c in 0..<50 {
      for o in 0..<(1 + c % 4) { csv += "\(c == 3 ? "\"a,\"\"b\"\"\"" : "C\(c)"),2024-0\(1 + (c + o) % 9)-1\(o),\(5 + c * o).25\n" }
    }
    let customers = try Analyzer.run(try TransactionIngestor.ingest(Array(csv.utf8))).customers
    var reader = try #require(CustomerCSVReader(Data(customers.csv().utf8)))
    var i = 0
    while let (_, row) = reader.next() {
      let decoded = try #require(row)
      #expect(decoded == CustomerRow(
        customerId: customers.table.ids[i], frequency: Int(customers.table.frequency[i]), segment: customers.segment[i], group: customers.group[i], cluster: Int(customers.cluster[i]), clusterName: customers.clusterNames[Int(customers.cluster[i])]))
      i += 1
    }
    #expect(i == customers.table.count)
  }

  @Test("names select what a reader of the report would expect", arguments: [
    ("At Risk", CustomerSelection.segment(.atRisk)), ("can't lose them", nil), ("Can't Lose Them", .segment(.cantLose)),
    ("lost", .group(.lost)), ("Lost", .segment(.lost)), ("at risk", .group(.atRisk)), ("at_risk", .group(.atRisk)),
    ("cluster:3", .cluster(3)), ("cluster:-1", nil), ("dormant (2)", .clusterNamed(ClusterName(kind: .dormant, rank: 2))),
    ("high value", .clusterNamed(ClusterName(kind: .highValue))), ("dormant (1)", nil), ("vip", nil),
  ])
  func names(name: String, selection: CustomerSelection?) {
    #expect(CustomerSelection(name) == selection)
  }
}

/// A month the data does not cover whole is marked and kept out of month-over-month figures.
@Suite("Partial months")
struct PartialMonthTests {
  @Test("data ending on the 9th: the last month is partial; churn, the order-value change and the alerts use complete months")
  func endsOnTheNinth() throws {
    var csv = "customer_id,order_id,order_date,amount\n"
    var order = 0
    // Customers order every month from January to May 2024 at 20, then a few in June, up to the 9th, at 5.
    for c in 0..<30 {
      for month in 1...5 {
        order += 1
        csv += "C\(c),O\(order),2024-0\(month)-\(String(format: "%02d", 1 + c % 28)),20\n"
      }
      if c < 5 {
        order += 1
        csv += "C\(c),O\(order),2024-06-0\(1 + c),5\n"
      }
    }
    let (result, _) = try Analyzer.run(try TransactionIngestor.ingest(Array(csv.utf8)))
    let monthly = result.kpis.monthly
    #expect(monthly.map(\.month) == ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"])
    #expect(monthly.map(\.partial) == [false, false, false, false, false, true])
    #expect(result.period.lastCompleteMonth == "2024-05")
    #expect(result.kpis.lastMonthChurn == monthly[4].churn)
    // May against April: no drop; June's 5.00 orders are not set against May's 20.00.
    let drop = try #require(result.alerts.first { $0.id == .orderValueDrop })
    #expect(drop.figure == 0 && !drop.raised)
  }
}

/// What the lifetime models cannot tell on the data is measured and said.
@Suite("Model diagnostics")
struct ModelDiagnosticTests {
  /// 120 regulars ordering every 9 to 20 days over 13 months, and 60 who bought once at the start.
  static let noDropout: TransactionData = {
    var csv = "customer_id,order_date,amount\n"
    let start = daysFromCivil(year: 2024, month: 1, day: 1)
    for c in 0..<120 {
      var day = start + c % 9
      while day < start + 395 {
        csv += "R\(c),\(isoDate(day)),\(10 + c % 7)\n"
        day += 9 + (c * 7 + day) % 12
      }
    }
    for c in 0..<60 { csv += "O\(c),\(isoDate(start + c % 20)),25\n" }
    return try! TransactionIngestor.ingest(Array(csv.utf8))
  }()

  @Test("silent customers the model keeps alive: dropout_not_identified, and the at-risk list goes by recency")
  func dropoutNotIdentified() throws {
    let (result, customers) = try Analyzer.run(Self.noDropout)
    let ids = result.clv.diagnostics.map(\.id)
    #expect(ids.contains(.dropoutNotIdentified), "\(result.clv.diagnostics)")
    #expect(result.clv.valuableAtRiskRule == .recency)
    for customer in result.clv.valuableAtRisk {
      #expect(customer.recency > result.lifecycle.atRiskDays && customer.recency <= result.lifecycle.lostDays)
    }
    // With silent customers among the top fifth (recencies set, with ties): the first ten in
    // the rule's order, longest silent first, then highest revenue, then row.
    var silent = customers
    let n = silent.table.count
    for i in 0..<n { silent.table.recency[i] = Int32(result.lifecycle.atRiskDays + 1 + (i * 7) % (result.lifecycle.lostDays - result.lifecycle.atRiskDays)) }
    let summary = Indicators.clvSummary(silent, purchaseModel: result.clv.purchaseModel, gammaGamma: result.clv.gammaGamma, options: AnalysisOptions(), dropoutIdentified: false)
    let table = silent.table
    let top = (0..<n).sorted { table.monetary[$0] != table.monetary[$1] ? table.monetary[$0] > table.monetary[$1] : $0 < $1 }.prefix(max(1, n / 5))
    let ordered = top.sorted { a, b in
      table.recency[a] != table.recency[b] ? table.recency[a] > table.recency[b] : table.monetary[a] != table.monetary[b] ? table.monetary[a] > table.monetary[b] : a < b
    }
    #expect(summary.valuableAtRisk.count == 10 && summary.valuableAtRisk.map(\.customerId) == ordered.prefix(10).map { table.ids[$0] })
    let validation = try #require(result.clv.validation)
    let observed = parseISODate(result.period.last)! - parseISODate(result.period.first)! + 1
    #expect(validation.holdoutDays == max(60, observed / 4) && validation.customers > 0)
  }

  @Test("a short history gets no holdout and says so; few repeat buyers are said", arguments: [40, 150])
  func shortHistory(days: Int) throws {
    var csv = "customer_id,order_date,amount\n"
    let start = daysFromCivil(year: 2024, month: 3, day: 1)
    for c in 0..<50 { csv += "C\(c),\(isoDate(start + c % days)),20\n" }
    csv += "C1,\(isoDate(start + days - 1)),20\n"
    let (result, _) = try Analyzer.run(try TransactionIngestor.ingest(Array(csv.utf8)))
    let ids = result.clv.diagnostics.map(\.id)
    #expect(ids.contains(.shortHistory) && ids.contains(.fewRepeatBuyers))
    #expect((result.clv.validation == nil) == (days < 120))
  }
}

/// Every list of the JSON holds what the rule it prints says, and nothing else.
@Suite("Lists obey their rules")
struct ListRuleTests {
  static func check(_ result: AnalysisResult, _ customers: CustomerResults) {
    let c = result.clv
    let n = customers.table.count
    let byRevenue = (0..<n).sorted { customers.table.monetary[$0] != customers.table.monetary[$1] ? customers.table.monetary[$0] > customers.table.monetary[$1] : $0 < $1 }
    let top = Set(byRevenue.prefix(max(1, n / 5)).map { customers.table.ids[$0] })
    #expect(c.valuableAtRisk.count <= 10)
    for v in c.valuableAtRisk {
      #expect(top.contains(v.customerId), "\(v.customerId) is not in the top 20 % by revenue")
      switch c.valuableAtRiskRule {
      case .probabilityAlive: #expect(AnalysisResult.CLVSummary.reachableRisk.contains(v.probabilityAlive), "\(v)")
      case .recency: #expect(v.recency > result.lifecycle.atRiskDays && v.recency <= result.lifecycle.lostDays, "\(v)")
      }
    }
    for alert in result.alerts {
      switch alert.id {
      case .lowSatisfaction: #expect(alert.raised == (alert.figure < alert.threshold))
      case .inactiveCustomers: #expect(alert.raised == (alert.figure > 0))
      case .orderValueDrop, .monthlyChurn: #expect(alert.raised == (alert.figure > alert.threshold), "\(alert)")
      }
    }
    for action in result.actions {
      let members = (0..<n).filter { i in
        action.segments.contains { group in
          switch group {
          case .lifecycle(let g): customers.group[i] == g
          case .oneTimeBuyers: customers.table.frequency[i] == 1
          case .oneTimeBuyersNotLost: customers.table.frequency[i] == 1 && customers.group[i] != .lost
          case .cluster(let id): Int(customers.cluster[i]) == id
          }
        }
      }
      #expect(action.targetCustomers == members.count, "\(action.id)")
    }
    for bin in c.validation?.byFrequency ?? [] { #expect(bin.customers > 0 && bin.frequency <= 7) }
    #expect(result.kpis.monthly.dropLast().dropFirst().allSatisfy { !$0.partial })
  }

  @Test("the generated shop, and data where the model sees no dropout")
  func lists() throws {
    var csv = "customer_id,order_id,order_date,amount\n"
    var order = 0
    for c in 0..<300 {
      for o in 0..<(1 + (c * 7) % 9) {
        order += 1
        csv += "C\(c),O\(order),2024-\(String(format: "%02d", 1 + (c + o * 3) % 12))-\(String(format: "%02d", 1 + (c * 5 + o) % 28)),\(5 + (c * 13 + o * 7) % 150).50\n"
      }
    }
    let (result, customers) = try Analyzer.run(try TransactionIngestor.ingest(Array(csv.utf8)))
    Self.check(result, customers)
    let (other, otherCustomers) = try Analyzer.run(ModelDiagnosticTests.noDropout)
    Self.check(other, otherCustomers)
  }
}

@Suite("Analysis threads")
struct AnalysisThreadTests {
  @Test("many short analyses, finished or cancelled midway, leave no thread holding their work")
  func shortAnalyses() throws {
    let data = try TransactionIngestor.ingest(Array(sampleCSV(customers: 12, seed: 5).utf8))
    let expected = try Analyzer.run(data).result
    // Each round is seconds in a debug build; the race this guards against showed on the
    // first analysis of a tiny file (the fuzzer's ingest corpus holds that file).
    for round in 0..<4 {
      if round % 2 == 0 {
        #expect(try Analyzer.run(data).result == expected)
      } else {
        // Cancelled while RFM and the KPIs run on their own thread.
        var asked = 0
        #expect(throws: AnalysisError.cancelled) {
          try Analyzer.run(data, isCancelled: {
            asked += 1
            return asked > 2
          })
        }
      }
    }
  }
}
