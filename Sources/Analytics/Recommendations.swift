import Foundation

/// Alerts, recommended actions, KPI targets and key points, all derived by fixed rules from
/// the figures (docs/metrics.md lists the rules).
enum Recommendations {
  static func alerts(kpis: AnalysisResult.KPIs, table: CustomerTable, insights: AnalysisResult.Insights, thresholds: AlertThresholds) -> [AnalysisResult.Alert] {
    var alerts: [AnalysisResult.Alert] = []
    let inactive = table.recency.filter { Int($0) > thresholds.inactiveDays }.count
    alerts.append(.init(
      id: .inactiveCustomers, raised: inactive > 0, figure: Double(inactive), threshold: Double(thresholds.inactiveDays), unit: .customers,
      customers: inactive, severity: Double(inactive) / Double(max(1, table.count))))
    // Month over month: complete months only, a partial month is not set against a whole one.
    let months = kpis.monthly.filter { $0.orders > 0 && !$0.partial }
    if months.count >= 2 {
      let previous = months[months.count - 2].averageOrderValue, last = months[months.count - 1].averageOrderValue
      let drop = previous > 0 ? (previous - last) / previous : 0
      alerts.append(.init(
        id: .orderValueDrop, raised: drop > thresholds.orderValueDrop, figure: drop, threshold: thresholds.orderValueDrop, unit: .share,
        customers: nil, severity: drop > thresholds.orderValueDrop ? (drop - thresholds.orderValueDrop) / thresholds.orderValueDrop : 0))
    }
    if let churn = kpis.lastMonthChurn {
      alerts.append(.init(
        id: .monthlyChurn, raised: churn > thresholds.monthlyChurn, figure: churn, threshold: thresholds.monthlyChurn, unit: .share,
        customers: nil, severity: churn > thresholds.monthlyChurn ? (churn - thresholds.monthlyChurn) / thresholds.monthlyChurn : 0))
    }
    if let satisfaction = insights.satisfaction {
      let raised = satisfaction.average < thresholds.minSatisfaction
      alerts.append(.init(
        id: .lowSatisfaction, raised: raised, figure: satisfaction.average, threshold: thresholds.minSatisfaction, unit: .score,
        customers: satisfaction.customers, severity: raised ? (thresholds.minSatisfaction - satisfaction.average) / thresholds.minSatisfaction : 0))
    }
    return alerts
  }

  static func actions(
    customers c: CustomerResults, groups: [GroupProfile<LifecycleGroup>], clusters: [AnalysisResult.ClusterProfile], insights: AnalysisResult.Insights,
    kpis: AnalysisResult.KPIs, options: AnalysisOptions
  ) -> [AnalysisResult.Action] {
    let table = c.table
    let rate = options.responseRate
    func sumOrderValue(_ members: [Int]) -> Double { members.reduce(0) { $0 + table.averageOrderValue($1) } }
    func estimate(_ members: [Int], rate: Double, base: Double) -> AnalysisResult.Estimate {
      .init(rate: rate, customers: members.count, base: base, value: rate * base)
    }
    var actions: [AnalysisResult.Action] = []
    let lapsed = (0..<table.count).filter { c.group[$0] == .atRisk || c.group[$0] == .lost }
    if !lapsed.isEmpty {
      actions.append(.init(
        id: .reactivation, segments: [.lifecycle(.atRisk), .lifecycle(.lost)], targetCustomers: lapsed.count,
        kpi: .reactivationRate, kpiCurrent: nil, kpiTarget: rate, estimate: estimate(lapsed, rate: rate, base: sumOrderValue(lapsed))))
    }
    // The cluster that spends the most (clusters are ordered by spend), when it spends above
    // the average customer, whatever sets it apart.
    if let top = clusters.first, top.center[2] > 0.3 {
      let members = (0..<table.count).filter { c.cluster[$0] == Int32(top.id) }
      let active = members.filter { Int(table.recency[$0]) <= options.atRiskDays }.count
      let clv = members.reduce(0) { $0 + c.predictedCLV[$1] }
      actions.append(.init(
        id: .vipCare, segments: [.cluster(top.id)], targetCustomers: members.count, kpi: .activeShare,
        kpiCurrent: Double(active) / Double(max(1, members.count)), kpiTarget: 0.95, estimate: estimate(members, rate: 0.10, base: clv)))
    }
    let potential = (0..<table.count).filter { c.group[$0] == .potential }
    if !potential.isEmpty {
      let revenue = potential.reduce(0) { $0 + table.monetary[$1] }
      let orders = potential.reduce(0) { $0 + Int(table.frequency[$1]) }
      let clv = potential.reduce(0) { $0 + c.predictedCLV[$1] }
      let current = revenue / Double(orders)
      actions.append(.init(
        id: .crossSell, segments: [.lifecycle(.potential)], targetCustomers: potential.count, kpi: .averageOrderValue,
        kpiCurrent: current, kpiTarget: current * 1.10, estimate: estimate(potential, rate: 0.10, base: clv)))
    }
    let oneTimers = (0..<table.count).filter { table.frequency[$0] == 1 && c.group[$0] != .lost }
    if !oneTimers.isEmpty {
      actions.append(.init(
        id: .secondPurchase, segments: [.oneTimeBuyersNotLost], targetCustomers: oneTimers.count, kpi: .repeatPurchaseRate,
        kpiCurrent: kpis.repeatPurchaseRate, kpiTarget: min(1, kpis.repeatPurchaseRate + 0.05), estimate: estimate(oneTimers, rate: rate, base: sumOrderValue(oneTimers))))
    }
    if let service = insights.serviceContact, service.withContact.repeatRate > service.withoutContact.repeatRate {
      let gain = service.withContact.repeatRate - service.withoutContact.repeatRate
      let members = (0..<table.count).filter { table.frequency[$0] == 1 }
      actions.append(.init(
        id: .serviceFollowUp, segments: [.oneTimeBuyers], targetCustomers: members.count, kpi: .repeatRateWithoutContact,
        kpiCurrent: service.withoutContact.repeatRate, kpiTarget: service.withContact.repeatRate,
        estimate: estimate(members, rate: gain, base: sumOrderValue(members))))
    }
    let lost = (0..<table.count).filter { c.group[$0] == .lost }
    if !lost.isEmpty {
      actions.append(.init(
        id: .churnSurvey, segments: [.lifecycle(.lost)], targetCustomers: lost.count, kpi: .surveyResponseRate,
        kpiCurrent: nil, kpiTarget: 0.20, estimate: nil))
    }
    return actions
  }

  /// Targets: engaged share +10 points, order value +10 %, orders per customer and year
  /// +10 %, repeat-purchase rate +5 points, monthly churn at the alert threshold, mean
  /// predicted CLV +10 %, satisfaction at the alert threshold (when known).
  static func targets(kpis: AnalysisResult.KPIs, clv: AnalysisResult.CLVSummary, insights: AnalysisResult.Insights, thresholds: AlertThresholds) -> [AnalysisResult.KPITarget] {
    func target(_ id: KPIID, _ current: Double, _ goal: Double, _ unit: FigureUnit, lowerIsBetter: Bool = false) -> AnalysisResult.KPITarget {
      .init(id: id, current: current, target: goal, gap: goal - current, unit: unit, lowerIsBetter: lowerIsBetter)
    }
    var targets = [
      target(.engagedShare, kpis.engagedShare, min(1, kpis.engagedShare + 0.10), .share),
      target(.averageOrderValue, kpis.averageOrderValue, kpis.averageOrderValue * 1.10, .currency),
      target(.ordersPerCustomerPerYear, kpis.ordersPerCustomerPerYear, kpis.ordersPerCustomerPerYear * 1.10, .count),
      target(.repeatPurchaseRate, kpis.repeatPurchaseRate, min(1, kpis.repeatPurchaseRate + 0.05), .share),
    ]
    if let churn = kpis.lastMonthChurn {
      targets.append(target(.monthlyChurn, churn, min(churn, thresholds.monthlyChurn), .share, lowerIsBetter: true))
    }
    targets.append(target(.predictedCLVMean, clv.predictedMean, clv.predictedMean * 1.10, .currency))
    if let satisfaction = insights.satisfaction {
      targets.append(target(.satisfaction, satisfaction.average, max(satisfaction.average, thresholds.minSatisfaction), .score))
    }
    return targets
  }

  /// The three key points: the lapsed group (at risk or lost) with the most past revenue,
  /// the highest-spending cluster (its order value against the whole base), and the raised
  /// alert furthest past its threshold (or, with none raised, the engaged share).
  static func keyPoints(groups: [GroupProfile<LifecycleGroup>], clusters: [AnalysisResult.ClusterProfile], alerts: [AnalysisResult.Alert]) -> [AnalysisResult.KeyPoint] {
    var points: [AnalysisResult.KeyPoint] = []
    let lapsed = groups.filter { $0.name == .atRisk || $0.name == .lost }
    // Ties (a purchase log has no revenue) go to the larger group.
    if let worst = lapsed.max(by: { ($0.revenue, $0.customers) < ($1.revenue, $1.customers) }), worst.customers > 0 {
      points.append(.init(id: .revenueAtRisk, subject: .group(worst.name), customers: worst.customers, share: worst.share, value: worst.revenue, ratio: worst.revenueShare))
    }
    if let top = clusters.first {
      points.append(.init(id: .highValueCluster, subject: .cluster(top.name), customers: top.profile.customers, share: top.profile.share, value: top.profile.averageOrderValue, ratio: top.orderValueIndex))
    }
    if let alert = alerts.filter(\.raised).max(by: { $0.severity < $1.severity }) {
      points.append(.init(id: .alert, subject: .alert(alert.id), customers: alert.customers, share: nil, value: alert.figure, ratio: alert.threshold))
    }
    return points
  }
}
