import Foundation

/// Whole-base KPIs, monthly series, cohorts and the CLV summary (definitions in docs/metrics.md).
enum Indicators {
  static func compute(_ data: TransactionData, table: CustomerTable, atRiskDays: Int) -> AnalysisResult.KPIs {
    let n = table.count
    let orders = data.orderCount
    let revenue = table.monetary.reduce(0, +)
    let repeaters = table.frequency.filter { $0 >= 2 }.count
    let engaged = table.recency.filter { Int($0) <= atRiskDays }.count
    let tenureYears = (0..<n).reduce(0.0) { $0 + Double(max(table.tenure($1), 30)) } / 365

    let firstMonth = monthIndex(ofDay: data.orderDay.lazy.map(Int.init).min()!)
    let lastMonth = monthIndex(ofDay: table.lastDataDay)
    let months = lastMonth - firstMonth + 1
    // Per month: customers active in it, in the active base at its end (an order in the
    // window (end − atRiskDays, end]), in the base at the end of the month before, and in
    // both. Counted customer by customer over their orders in day order, so that the cost
    // grows with orders and the months they cover, never with customers × months.
    var monthOrders = [Int](repeating: 0, count: months)
    var monthRevenue = [Double](repeating: 0, count: months)
    var activeCounts = [Int](repeating: 0, count: months)
    var baseCounts = [Int](repeating: 0, count: months)
    var previousBaseCounts = [Int](repeating: 0, count: months)
    var retainedCounts = [Int](repeating: 0, count: months)
    var cohortSize = [Int](repeating: 0, count: months)
    var cohortActive = [[Int]](repeating: [], count: months)
    for m in 0..<months { cohortActive[m] = [Int](repeating: 0, count: months - m) }
    // Window end of each month: its last day, or the last day of data for the final month.
    let monthEnds = (0..<months).map { m -> Int in
      let index = firstMonth + m
      let (y, mo) = (index / 12, index % 12 + 1)
      return min(daysFromCivil(year: y, month: mo, day: Int(daysInMonth(year: y, month: mo))), table.lastDataDay)
    }
    // Rows keep their customers' source order, so the table's order by (source, day) is
    // also by (row, day).
    let byCustomer = table.ordersByCustomer
    /// Adds one customer's months in the base, a run [start, end) of consecutive months.
    func countBase(_ start: Int, _ end: Int) {
      for k in start..<end {
        baseCounts[k] += 1
        if k > start { retainedCounts[k] += 1 }
      }
      // In the base at the end of each month of the run: counted as the previous base of
      // the month after it.
      for k in (start + 1)..<min(end + 1, months) { previousBaseCounts[k] += 1 }
    }
    // Per day of the data: its month, and the first month whose window ends too soon to
    // hold an order of that day (the order keeps the customer in the active base of every
    // month from its own up to that one, as (end − atRiskDays, end] contains it).
    let firstDataDay = data.orderDay.lazy.map(Int.init).min()!
    let dayCount = table.lastDataDay - firstDataDay + 1
    var monthOfDay = [Int32](repeating: 0, count: dayCount)
    var baseUntil = [Int32](repeating: 0, count: dayCount)
    for d in 0..<dayCount {
      let day = firstDataDay + d
      let m = monthIndex(ofDay: day) - firstMonth
      var k = m
      while k < months && monthEnds[k] - atRiskDays < day { k += 1 }
      (monthOfDay[d], baseUntil[d]) = (Int32(m), Int32(k))
    }
    // Each row's orders are a run of `frequency` in `ordersByCustomer`.
    var i = 0
    for c in 0..<n {
      let end = i + Int(table.frequency[c])
      let cohort = Int(monthOfDay[Int(table.firstDay[c]) - firstDataDay])
      cohortSize[cohort] += 1
      var lastActive = -1
      var run: (start: Int, end: Int)? = nil
      while i < end {
        let o = Int(byCustomer[i])
        i += 1
        let day = Int(data.orderDay[o])
        let m = Int(monthOfDay[day - firstDataDay])
        monthOrders[m] += 1
        monthRevenue[m] += data.orderAmount[o]
        if m != lastActive {
          activeCounts[m] += 1
          cohortActive[cohort][m - cohort] += 1
          lastActive = m
        }
        let k = Int(baseUntil[day - firstDataDay])
        guard k > m else { continue }
        if let current = run, m <= current.end {
          run = (current.start, max(current.end, k))
        } else {
          if let current = run { countBase(current.start, current.end) }
          run = (m, k)
        }
      }
      if let current = run { countBase(current.start, current.end) }
    }
    var monthly: [AnalysisResult.MonthFigures] = []
    var newCustomers = [Int](repeating: 0, count: months)
    for c in 0..<n { newCustomers[monthIndex(ofDay: Int(table.firstDay[c])) - firstMonth] += 1 }
    var churns: [Double] = []
    // A month is partial when the data starts after its first day or ends before its last.
    let firstMonthStart = daysFromCivil(year: firstMonth / 12, month: firstMonth % 12 + 1, day: 1)
    let lastMonthEnd = daysFromCivil(year: lastMonth / 12, month: lastMonth % 12 + 1, day: Int(daysInMonth(year: lastMonth / 12, month: lastMonth % 12 + 1)))
    let partial = (0..<months).map { m in (m == 0 && firstDataDay > firstMonthStart) || (m == months - 1 && table.lastDataDay < lastMonthEnd) }
    for m in 0..<months {
      let (activeCount, baseCount, previousBase, retained) = (activeCounts[m], baseCounts[m], previousBaseCounts[m], retainedCounts[m])
      var retention: Double?
      if m > 0 && previousBase > 0 { retention = Double(retained) / Double(previousBase) }
      if let retention, !partial[m] { churns.append(1 - retention) }
      monthly.append(.init(
        month: monthLabel(firstMonth + m), activeCustomers: activeCount, newCustomers: newCustomers[m], orders: monthOrders[m], revenue: monthRevenue[m],
        averageOrderValue: monthOrders[m] > 0 ? monthRevenue[m] / Double(monthOrders[m]) : 0, activeBase: baseCount, retention: retention,
        churn: retention.map { 1 - $0 }, partial: partial[m]))
    }
    let cohorts = (0..<months).compactMap { m -> AnalysisResult.Cohort? in
      guard cohortSize[m] > 0 else { return nil }
      return .init(month: monthLabel(firstMonth + m), customers: cohortSize[m], retention: cohortActive[m].map { Double($0) / Double(cohortSize[m]) })
    }
    let last = monthly.last { !$0.partial }
    return AnalysisResult.KPIs(
      averageOrderValue: revenue / Double(orders), revenuePerCustomer: revenue / Double(n), ordersPerCustomer: Double(orders) / Double(n),
      ordersPerCustomerPerYear: Double(orders) / tenureYears, repeatPurchaseRate: Double(repeaters) / Double(n),
      oneTimeBuyerRate: Double(n - repeaters) / Double(n), engagedCustomers: engaged, engagedShare: Double(engaged) / Double(n),
      inactiveCustomers: n - engaged, lastMonthChurn: last?.churn, lastMonthRetention: last?.retention,
      averageMonthlyChurn: churns.isEmpty ? nil : churns.reduce(0, +) / Double(churns.count), monthly: monthly, cohorts: cohorts)
  }

  static func clvSummary(
    _ c: CustomerResults, purchaseModel: PurchaseModelParameters, gammaGamma: GammaGammaParameters, options: AnalysisOptions, dropoutIdentified: Bool
  ) -> AnalysisResult.CLVSummary {
    let n = c.table.count
    let total = c.predictedCLV.reduce(0, +)
    // Valuable customers: the top 20 % by revenue. Most likely to be lost while still worth
    // a call: probability alive from 10 % to 70 % (below, they are gone already; above, not
    // at risk), lowest first. When none is in that band, the list is empty: it never holds
    // a customer outside the rule it prints.
    let monetary = c.table.monetary
    // Three selections over every customer, each on one core: the median and the chart's
    // edges beside the top fifth.
    let ((middle, distribution), top) = withBackgroundWork({ (median(c.predictedCLV), histogram(c.predictedCLV, bins: 10)) }) { join in
      let top = indicesOfLargest(monetary, count: max(1, n / 5))
      return (join(), top)
    }
    // The ten first by the rule's order, ties by revenue (highest first), then by row.
    let atRisk: [Int]
    if dropoutIdentified {
      let alive = c.probabilityAlive
      atRisk = firstInOrder(top.filter { (AnalysisResult.CLVSummary.reachableRisk).contains(alive[$0]) }, count: 10) { a, b in
        alive[a] != alive[b] ? alive[a] < alive[b] : monetary[a] != monetary[b] ? monetary[a] > monetary[b] : a < b
      }
    } else {
      // P(alive) cannot tell who left: the lapsing ones by recency, past at_risk_days and
      // not yet lost, longest silent first.
      let recency = c.table.recency
      atRisk = firstInOrder(top.filter { Int(recency[$0]) > options.atRiskDays && Int(recency[$0]) <= options.lostDays }, count: 10) { a, b in
        recency[a] != recency[b] ? recency[a] > recency[b] : monetary[a] != monetary[b] ? monetary[a] > monetary[b] : a < b
      }
    }
    return .init(
      purchaseModel: purchaseModel, gammaGamma: gammaGamma, horizonMonths: options.clvMonths, monthlyDiscountRate: options.monthlyDiscountRate,
      historicalMean: c.table.monetary.reduce(0, +) / Double(n), predictedTotal: total, predictedMean: total / Double(n), predictedMedian: middle,
      expectedPurchases: c.expectedPurchases.reduce(0, +), meanProbabilityAlive: c.probabilityAlive.reduce(0, +) / Double(n),
      distribution: distribution,
      valuableAtRiskRule: dropoutIdentified ? .probabilityAlive : .recency,
      valuableAtRisk: atRisk.map {
        .init(customerId: c.table.ids[$0], revenue: c.table.monetary[$0], recency: Int(c.table.recency[$0]), probabilityAlive: c.probabilityAlive[$0], predictedClv: c.predictedCLV[$0])
      })
  }

  /// Equal-width bins from 0 to a round number near the 95th percentile, plus an open last
  /// bin for the values above, so that a long tail does not flatten the chart.
  static func histogram(_ values: [Double], bins: Int) -> [AnalysisResult.HistogramBin] {
    let edges = histogramEdges(values, bins: bins)
    var counts = [Int](repeating: 0, count: edges.count)
    for v in values { counts[binIndex(v, edges: edges)] += 1 }
    return edges.indices.map { i in .init(lower: edges[i], upper: i + 1 < edges.count ? edges[i + 1] : nil, count: counts[i]) }
  }

  /// Lower edges of `bins` equal-width bins plus the open last one.
  static func histogramEdges(_ values: [Double], bins: Int) -> [Double] {
    let p95 = values.isEmpty ? 1 : valueAtRank(values, min(values.count - 1, Int(Double(values.count) * 0.95)))
    let width = niceStep(max(p95, 1e-9) / Double(bins))
    return (0...bins).map { Double($0) * width }
  }

  static func binIndex(_ value: Double, edges: [Double]) -> Int {
    guard edges.count > 1 else { return 0 }
    let width = edges[1] - edges[0]
    let position = value / width
    // Checked before the conversion: Int(_:) traps on a value it cannot hold.
    guard position.isFinite else { return position > 0 ? edges.count - 1 : 0 }
    return min(edges.count - 1, max(0, Int(min(position, Double(edges.count)))))
  }

  /// 1, 2, 2.5 or 5 × a power of ten, at least `raw`.
  static func niceStep(_ raw: Double) -> Double {
    let magnitude = pow(10, floor(log10(raw)))
    for m in [1.0, 2, 2.5, 5, 10] where m * magnitude >= raw { return m * magnitude }
    return 10 * magnitude
  }
}
