import Foundation

extension AnalysisResult.Insights {
  /// The insights the data supports: each is nil when its columns are absent.
  static func compute(
    _ data: TransactionData, table: CustomerTable, group: [LifecycleGroup], attributes: [String: CustomerAttributes], atRiskDays: Int
  ) -> AnalysisResult.Insights {
    var insights = AnalysisResult.Insights()
    func rateGroup(_ members: [Int]) -> AnalysisResult.RateGroup {
      let repeaters = members.filter { table.frequency[$0] >= 2 }.count
      let active = members.filter { Int(table.recency[$0]) <= atRiskDays }.count
      let count = Double(max(1, members.count))
      return .init(customers: members.count, repeatRate: Double(repeaters) / count, activeShare: Double(active) / count)
    }
    let known = (0..<table.count).compactMap { i in attributes[table.ids[i]].map { (i, $0) } }
    let contacts = known.filter { $0.1.serviceContacts != nil }
    if !contacts.isEmpty {
      let with = rateGroup(contacts.filter { $0.1.serviceContacts! > 0 }.map(\.0))
      let without = rateGroup(contacts.filter { $0.1.serviceContacts! == 0 }.map(\.0))
      if with.customers > 0 && without.customers > 0 {
        insights.serviceContact = .init(
          withContact: with, withoutContact: without, repeatLift: without.repeatRate > 0 ? with.repeatRate / without.repeatRate - 1 : nil)
      }
    }
    let rated = known.compactMap { pair in pair.1.satisfaction.map { (pair.0, $0) } }
    if !rated.isEmpty {
      let levels = (1...5).compactMap { score -> AnalysisResult.SatisfactionLevel? in
        let members = rated.filter { Int($0.1.rounded()) == score }.map(\.0)
        guard !members.isEmpty else { return nil }
        return .init(score: score, customers: members.count, repeatRate: rateGroup(members).repeatRate)
      }
      let xs = rated.map(\.1)
      let ys = rated.map { table.frequency[$0.0] >= 2 ? 1.0 : 0.0 }
      insights.satisfaction = .init(customers: rated.count, average: xs.reduce(0, +) / Double(xs.count), correlation: pearson(xs, ys), levels: levels)
    }
    if data.hasPromo {
      var promo = (orders: 0, revenue: 0.0), normal = (orders: 0, revenue: 0.0)
      for o in 0..<data.orderCount {
        if data.orderPromo[o] { promo.orders += 1; promo.revenue += data.orderAmount[o] } else { normal.orders += 1; normal.revenue += data.orderAmount[o] }
      }
      if promo.orders > 0 && normal.orders > 0 {
        let total = Double(data.orderCount)
        let edges = Indicators.histogramEdges(data.orderAmount, bins: 10)
        var promoHistogram = [Int](repeating: 0, count: edges.count), normalHistogram = promoHistogram
        for o in 0..<data.orderCount {
          let bin = Indicators.binIndex(data.orderAmount[o], edges: edges)
          if data.orderPromo[o] { promoHistogram[bin] += 1 } else { normalHistogram[bin] += 1 }
        }
        insights.promotion = .init(
          promo: .init(orders: promo.orders, revenue: promo.revenue, averageOrderValue: promo.revenue / Double(promo.orders), orderShare: Double(promo.orders) / total),
          normal: .init(orders: normal.orders, revenue: normal.revenue, averageOrderValue: normal.revenue / Double(normal.orders), orderShare: Double(normal.orders) / total),
          bins: edges, promoHistogram: promoHistogram, normalHistogram: normalHistogram)
      }
    }
    if data.hasCategory && !data.categories.isEmpty {
      // Categories by overall revenue; beyond the top five, the rest is "other".
      let rowOf = table.rowsBySource(sourceCount: data.customerIDs.count)
      var totals = [Double](repeating: 0, count: data.categories.count)
      let spendings = data.categorySpend
      for i in 0..<spendings.count { totals[spendings.category(i)] += spendings.amounts[i] }
      let ranked = totals.indices.sorted { totals[$0] > totals[$1] }
      let shown = Array(ranked.prefix(5))
      let names = shown.map { data.categories[$0].isEmpty ? "(none)" : data.categories[$0] } + (ranked.count > 5 ? ["other"] : [])
      let groups = LifecycleGroup.allCases
      var spend = [[Double]](repeating: [Double](repeating: 0, count: names.count), count: groups.count)
      // Column of each category: its rank among the top five, else "other".
      var column = [Int](repeating: names.count - 1, count: data.categories.count)
      for (k, category) in shown.enumerated() { column[category] = k }
      for i in 0..<spendings.count {
        let row = rowOf[spendings.customer(i)]
        guard row >= 0 else { continue }
        let g = groups.firstIndex(of: group[Int(row)])!
        spend[g][column[spendings.category(i)]] += spendings.amounts[i]
      }
      insights.categories = .init(
        categories: names,
        byGroup: groups.indices.compactMap { g in
          let total = spend[g].reduce(0, +)
          guard total > 0 else { return nil }
          return .init(group: groups[g], revenue: total, shares: spend[g].map { $0 / total })
        })
    }
    return insights
  }
}

/// Pearson correlation; nil when either series is constant.
func pearson(_ x: [Double], _ y: [Double]) -> Double? {
  let n = Double(x.count)
  guard x.count > 1 else { return nil }
  let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
  var sxy = 0.0, sxx = 0.0, syy = 0.0
  for i in x.indices {
    sxy += (x[i] - mx) * (y[i] - my)
    sxx += (x[i] - mx) * (x[i] - mx)
    syy += (y[i] - my) * (y[i] - my)
  }
  guard sxx > 0, syy > 0 else { return nil }
  return sxy / (sxx * syy).squareRoot()
}
