import Foundation

/// Thresholds of the automatic alerts, per tenant.
public struct AlertThresholds: Sendable, Codable, Equatable {
  /// Customers without an order for more than this many days are counted as inactive.
  public var inactiveDays = 90
  /// Month-over-month drop of the average order value, as a share (0.20 = 20 %).
  public var orderValueDrop = 0.20
  /// Monthly churn of the active base, as a share.
  public var monthlyChurn = 0.05
  /// Minimum average satisfaction (1–5).
  public var minSatisfaction = 4.0

  public init() {}
}

/// Everything an analysis can be told.
public struct AnalysisOptions: Sendable, Codable, Equatable {
  /// Whether `code` has the shape of an ISO 4217 currency code: three capital letters.
  public static func isCurrencyCode(_ code: String) -> Bool {
    code.count == 3 && code.allSatisfy { $0.isUppercase && $0.isASCII }
  }

  /// Reference date (day number); nil: the day after the last order.
  public var asOfDay: Int?
  /// K-Means cluster count; nil chooses k from 2…8 by silhouette.
  public var clusters: Int?
  public var seed: UInt64 = 42
  public var atRiskDays = 90
  public var lostDays = 180
  public var clvMonths = 12
  public var monthlyDiscountRate = 0.01
  public var currency = "EUR"
  public var thresholds = AlertThresholds()
  /// Share of targeted customers assumed to respond in the estimates of the actions.
  public var responseRate = 0.15
  /// Days held back at the end of the data to check the purchase model; nil: the last
  /// quarter of the observed period, at least 60 days.
  public var holdoutDays: Int?
  /// The purchase model; nil: the one with the smallest holdout error (BG/NBD when the
  /// history is too short to check).
  public var purchaseModel: PurchaseModel?

  public init() {}

  /// Checks the ranges; the message names the option and its allowed values.
  public func validate() throws(AnalysisError) {
    // Every bound is checked with comparisons, never by building a range from the input:
    // a range whose bounds come from a request traps when they cross.
    if let k = clusters, k < 2 || k > 12 { throw .invalidOption("clusters must be between 2 and 12 (got \(k))") }
    if atRiskDays < 1 || atRiskDays >= Self.maxDays {
      throw .invalidOption("at_risk_days must be between 1 and \(Self.maxDays - 1), below lost_days (got \(atRiskDays))")
    }
    if lostDays <= atRiskDays || lostDays > Self.maxDays {
      throw .invalidOption("lost_days must be above at_risk_days (\(atRiskDays)) and at most \(Self.maxDays) (got \(lostDays))")
    }
    if clvMonths < 1 || clvMonths > 120 { throw .invalidOption("clv_months must be between 1 and 120 (got \(clvMonths))") }
    if !(monthlyDiscountRate >= 0 && monthlyDiscountRate <= 0.5) {
      throw .invalidOption("monthly_discount_rate must be between 0 and 0.5 (got \(monthlyDiscountRate))")
    }
    if !Self.isCurrencyCode(currency) {
      throw .invalidOption("currency must be an ISO 4217 code such as EUR (got '\(currency.prefix(40))')")
    }
    if let day = asOfDay, day < DateWindow.earliestDay || day > DateWindow.latestReferenceDay {
      throw .invalidOption("as_of must be between \(isoDate(DateWindow.earliestDay)) and \(isoDate(DateWindow.latestReferenceDay)) (got \(isoDate(day)))")
    }
    if !(thresholds.inactiveDays >= 1 && thresholds.inactiveDays <= Self.maxDays) {
      throw .invalidOption("the inactive-customer alert needs 1 to \(Self.maxDays) days (got \(thresholds.inactiveDays))")
    }
    if !(thresholds.orderValueDrop > 0 && thresholds.orderValueDrop < 1) {
      throw .invalidOption("the order-value alert needs a drop between 0 and 1 (got \(thresholds.orderValueDrop))")
    }
    if !(thresholds.monthlyChurn > 0 && thresholds.monthlyChurn < 1) {
      throw .invalidOption("the churn alert needs a monthly churn between 0 and 1 (got \(thresholds.monthlyChurn))")
    }
    if !(thresholds.minSatisfaction >= 1 && thresholds.minSatisfaction <= 5) {
      throw .invalidOption("the satisfaction alert needs a score between 1 and 5 (got \(thresholds.minSatisfaction))")
    }
    if let days = holdoutDays, days < 7 || days > Self.maxDays {
      throw .invalidOption("holdout_days must be between 7 and \(Self.maxDays) (got \(days))")
    }
    if !(responseRate > 0 && responseRate <= 1) { throw .invalidOption("response_rate must be above 0 and at most 1 (got \(responseRate))") }
  }

  /// Longest period, in days, that `at_risk_days` and `lost_days` may name (ten years).
  public static let maxDays = 3650

  /// Checks the reference date against the purchases read: it may not fall before the last
  /// one (a purchase after it would have a negative recency).
  public func validate(lastPurchaseDay: Int) throws(AnalysisError) {
    if let day = asOfDay, day < lastPurchaseDay {
      throw .invalidOption("as_of \(isoDate(day)) is before the last purchase of the data (\(isoDate(lastPurchaseDay))): pick that day or a later one, or leave as_of empty")
    }
  }
}

/// Why an analysis could not run.
public enum AnalysisError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidOption(String)
  case noUsableRows(DataQuality)
  case unreadable(CSVFormatError)
  /// `isCancelled` answered true between two stages.
  case cancelled

  public var description: String {
    switch self {
    case .cancelled: "the analysis was cancelled"
    case .invalidOption(let message): message
    case .noUsableRows(let quality):
      "no usable purchase in the file: \(quality.rowsRead) rows read, rejected: "
        + quality.rejected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        + (quality.furtherLineItems.map { "; further line items of those orders \($0)" } ?? "")
        + (quality.rejected[RejectReason.otherCurrency.rawValue] != nil
          ? "; "
            + (quality.columns[ColumnRole.currency.rawValue].map { "the file's currency column (\($0)) names" } ?? "the file's amounts name")
            + " another currency than the report's: give the file's with --currency (the job option currency)"
          : "")
    case .unreadable(let error): error.description
    }
  }
}

/// Per-customer results, for the campaign export.
public struct CustomerResults: Sendable {
  public var table: CustomerTable
  public var scores: RFMScores
  public var segment: [RFMSegment]
  public var group: [LifecycleGroup]
  public var cluster: [Int32]
  public var clusterNames: [ClusterName]
  public var probabilityAlive: [Double]
  public var expectedPurchases: [Double]
  public var predictedCLV: [Double]
}

/// Progress callback: a stage name and the share of the whole analysis done (0–1).
public typealias ProgressHandler = (String, Double) -> Void

/// The analysis pipeline: customer table, RFM, lifecycle groups, K-Means, KPIs, CLV,
/// insights, alerts, actions and targets, from purchases already read.
public enum Analyzer {
  /// Runs every stage. Pure: the same input and options give the same result.
  /// `isCancelled` is asked before each stage; when it answers true the run stops with
  /// `AnalysisError.cancelled`.
  public static func run(
    _ data: TransactionData, attributes: [String: CustomerAttributes] = [:], attributeRows: Int = 0,
    options: AnalysisOptions = AnalysisOptions(), isCancelled: () -> Bool = { false }, progress: ProgressHandler = { _, _ in }
  ) throws(AnalysisError) -> (result: AnalysisResult, customers: CustomerResults) {
    func stage(_ name: String, _ share: Double) throws(AnalysisError) {
      if isCancelled() { throw .cancelled }
      progress(name, share)
    }
    try options.validate()
    guard data.orderCount > 0 else { throw .noUsableRows(data.quality) }
    if let last = data.orderDay.max() { try options.validate(lastPurchaseDay: Int(last)) }
    try stage("customers", 0.30)
    let table = CustomerTable(data, asOfDay: options.asOfDay)
    let n = table.count
    let revenue = table.monetary.reduce(0, +)
    let orders = data.orderCount

    try stage("rfm", 0.35)
    let hasAmounts = data.quality.amounts
    // RFM, the lifecycle groups, the KPIs and the insights run on one core each; they go on
    // a thread of their own beside the clusters, the model check and the lifetime value,
    // which leave a core idle part of the time. Each result is what it would be in sequence.
    return try withBackgroundWork({ () -> SegmentsAndIndicators in
      let scores = RFMScores(table, monetary: hasAmounts)
      let segment = (0..<n).map { RFMSegment.of(r: Int(scores.r[$0]), fm: scores.fm($0)) }
      let group = (0..<n).map {
        LifecycleGroup.of(recency: Int(table.recency[$0]), tenure: table.tenure($0), fm: scores.fm($0), atRiskDays: options.atRiskDays, lostDays: options.lostDays)
      }
      let segmentProfiles = GroupProfile.profiles(
        names: RFMSegment.allCases, membership: segment.map { RFMSegment.allCases.firstIndex(of: $0)! }, table: table)
      let groupProfiles = GroupProfile.profiles(
        names: LifecycleGroup.allCases, membership: group.map { LifecycleGroup.allCases.firstIndex(of: $0)! }, table: table)
      let kpis = Indicators.compute(data, table: table, atRiskDays: options.atRiskDays)
      let insights = AnalysisResult.Insights.compute(data, table: table, group: group, attributes: attributes, atRiskDays: options.atRiskDays)
      return SegmentsAndIndicators(
        scores: scores, segment: segment, group: group, segmentProfiles: segmentProfiles, groupProfiles: groupProfiles, kpis: kpis, insights: insights)
    }) { (segmentsAndIndicators) throws(AnalysisError) in
      try stage("clusters", 0.45)
      // The model check's split of the purchases (a pass over the orders on one core) on a
      // thread of its own beside the clusters, filling their gaps; the same split in sequence.
      let (clustering, calibration) = withBackgroundWork({
        ModelValidation.calibration(data, lastDay: table.lastDataDay, requestedHoldout: options.holdoutDays)
      }) { split in
        (Clustering.run(table, k: options.clusters, seed: options.seed), split())
      }

      try stage("model check", 0.55)
      let firstDay = Int(data.orderDay.min()!)
      let checked = calibration.flatMap { ModelValidation.check($0, models: options.purchaseModel.map { [$0] } ?? PurchaseModel.allCases) }

      try stage("lifetime value", 0.70)
      let summary = RepeatSummary(table)
      let validation = checked?.validation
      // Both models fitted again on all the data, from their calibration fits: fewer steps to
      // the optimum. The spend model on a thread of its own beside the purchase model, which
      // it does not wait on.
      let (distinct, purchaseModel, gammaGamma) = withBackgroundWork({
        LifetimeModels.fitGammaGamma(frequency: summary.spendFrequency, monetaryValue: summary.monetaryValue, from: checked?.spend)
      }) { spendFit in
        // Customers grouped by (x, t_x, T) once, for the fit and for what depends on those alone.
        let distinct = DistinctCustomers(summary, mappingCustomers: true)
        let purchaseModel = LifetimeModels.fit(
          validation?.model ?? options.purchaseModel ?? .bgnbd, to: summary, distinct: distinct, from: checked?.fit)
        return (distinct, purchaseModel, spendFit())
      }
      // Each customer's expected purchases by the end of every month up to the horizon and
      // to six months: the horizon's and six months' figures are two of them.
      let months = max(options.clvMonths, 6)
      let discountFactors = LifetimeModels.discountFactors(months: options.clvMonths, monthlyDiscountRate: options.monthlyDiscountRate)
      let outlooks = OutlookTable(purchaseModel, summary: summary, distinct: distinct, months: months)
      // Customers in fixed blocks on every core; the six-month sums added in block order, so
      // the digits do not depend on the number of cores. The columns are written there, every
      // customer's, without being zeroed first: that pass, and its page faults, ran on one core.
      var sixMonths = SIMD2<Double>.zero
      var expected: [Double] = []
      var clv: [Double] = []
      let pAlive = [Double](unsafeUninitializedCapacity: n) { pAlive, pAliveMade in
        expected = [Double](unsafeUninitializedCapacity: n) { expected, expectedMade in
          clv = [Double](unsafeUninitializedCapacity: n) { clv, clvMade in
            sixMonths = blockTotals(n, blockSize: 4096, zero: SIMD2<Double>.zero, { block in
              var sums = SIMD2<Double>.zero
              outlooks.byMonth.withUnsafeBufferPointer { monthly in
                for i in block {
                  let row = outlooks.row(ofCustomer: i)
                  let byMonth = UnsafeBufferPointer(rebasing: monthly[row * months..<(row + 1) * months])
                  pAlive[i] = outlooks.probabilityAlive[row]
                  expected[i] = byMonth[options.clvMonths - 1]
                  // A customer whose returns cancel what they spent has no purchase value to expect.
                  let value =
                    table.monetary[i] > 0 ? LifetimeModels.expectedAverageValue(gammaGamma, x: summary.spendFrequency[i], m: summary.monetaryValue[i]) : 0
                  clv[i] = LifetimeModels.lifetimeValue(purchasesByMonth: byMonth, value: value, discountFactors: discountFactors)
                  let purchases = byMonth[5]
                  sums += SIMD2(purchases, purchases * value)
                }
              }
              return sums
            }, adding: +=)
            clvMade = n
          }
          expectedMade = n
        }
        pAliveMade = n
      }
      let (sixMonthPurchases, sixMonthRevenue) = (sixMonths[0], sixMonths[1])
      try stage("kpis", 0.85)
      let (scores, segment, group, segmentProfiles, groupProfiles, kpis, computedInsights) = segmentsAndIndicators().fields
      let customers = CustomerResults(
        table: table, scores: scores, segment: segment, group: group, cluster: clustering.labels, clusterNames: clustering.profiles.map(\.name),
        probabilityAlive: pAlive, expectedPurchases: expected, predictedCLV: clv)

      // The actions read every customer several times on one core: they go on a thread of
      // their own beside the diagnostics and the lifetime value's summary, which need none of
      // them. Each result is what it would be in sequence.
      return try withBackgroundWork({ () -> [AnalysisResult.Action] in
        Recommendations.actions(customers: customers, groups: groupProfiles, clusters: clustering.profiles, insights: computedInsights, kpis: kpis, options: options)
      }) { (computedActions) throws(AnalysisError) in
        let diagnostics = Diagnostics.of(
          table: table, probabilityAlive: pAlive, expectedPurchases: expected, validation: validation, observedDays: table.lastDataDay - firstDay + 1,
          lostDays: options.lostDays)

        var clvSummary = Indicators.clvSummary(
          customers, purchaseModel: purchaseModel, gammaGamma: gammaGamma, options: options,
          dropoutIdentified: !diagnostics.contains { $0.id == .dropoutNotIdentified })
        clvSummary.validation = validation
        clvSummary.diagnostics = diagnostics
        let recentMonths = kpis.monthly.filter { !$0.partial }.suffix(6)
        clvSummary.sixMonths = .init(
          days: 180, expectedPurchases: sixMonthPurchases, expectedRevenue: sixMonthRevenue, monthlyRevenue: sixMonthRevenue / 6,
          recentMonthlyRevenue: recentMonths.isEmpty ? nil : recentMonths.map(\.revenue).reduce(0, +) / Double(recentMonths.count),
          recentMonths: recentMonths.count)
        var quality = data.quality
        var matched = 0
        // Without a customer file, no identifier is hashed for nothing.
        if !attributes.isEmpty { for id in table.ids where attributes[id] != nil { matched += 1 } }
        quality.customerRowsRead = attributeRows
        quality.customerRowsMatched = matched
        var insights = computedInsights
        var alerts = Recommendations.alerts(kpis: kpis, table: table, insights: insights, thresholds: options.thresholds)
        var actions = computedActions()
        var targets = Recommendations.targets(kpis: kpis, clv: clvSummary, insights: insights, thresholds: options.thresholds)
        var keyPoints = Recommendations.keyPoints(groups: groupProfiles, clusters: clustering.profiles, alerts: alerts)
        if !hasAmounts {
          // A purchase log: what needs money is not made up from zeros.
          insights.promotion = nil
          insights.categories = nil
          alerts.removeAll { $0.id == .orderValueDrop }
          actions.removeAll { $0.id == .crossSell || $0.id == .vipCare }
          for i in actions.indices { actions[i].estimate = nil }
          targets.removeAll { $0.unit == .currency }
          keyPoints.removeAll { $0.id == .highValueCluster }
          clvSummary.valuableAtRisk = []
          clvSummary.sixMonths = nil
        }
        let lastDay = table.lastDataDay
        let result = AnalysisResult(
          asOf: isoDate(table.asOfDay),
          period: .init(
            first: isoDate(firstDay), last: isoDate(lastDay), months: monthIndex(ofDay: lastDay) - monthIndex(ofDay: firstDay) + 1,
            lastCompleteMonth: kpis.monthly.last { !$0.partial }?.month),
          currency: options.currency, customers: n, orders: orders, revenue: revenue, kpis: kpis,
          rfm: .init(tieRule: "quintiles of ranks; ties broken by customer id in byte order (pandas qcut of rank(method='first'))", segments: segmentProfiles),
          lifecycle: .init(atRiskDays: options.atRiskDays, lostDays: options.lostDays, groups: groupProfiles),
          clusters: clustering.summary(seed: options.seed), clv: clvSummary, insights: insights, alerts: alerts, actions: actions,
          targets: targets, keyPoints: keyPoints, dataQuality: quality)
        progress("done", 0.90)
        return (result, customers)
      }
    }
  }
}

/// What the analysis computes on a thread of its own: RFM scores and segments, lifecycle
/// groups, their profiles, the KPIs and the insights.
private struct SegmentsAndIndicators {
  var scores: RFMScores
  var segment: [RFMSegment]
  var group: [LifecycleGroup]
  var segmentProfiles: [GroupProfile<RFMSegment>]
  var groupProfiles: [GroupProfile<LifecycleGroup>]
  var kpis: AnalysisResult.KPIs
  var insights: AnalysisResult.Insights

  var fields:
    (RFMScores, [RFMSegment], [LifecycleGroup], [GroupProfile<RFMSegment>], [GroupProfile<LifecycleGroup>], AnalysisResult.KPIs, AnalysisResult.Insights)
  { (scores, segment, group, segmentProfiles, groupProfiles, kpis, insights) }
}

/// What a fitted purchase model says of each customer that depends on (x, t_x, T) alone,
/// P(alive) and the purchases expected by the end of each month, computed once per distinct
/// triple (a million customers have about 400,000) on every core.
struct OutlookTable {
  /// Per row: P(alive), and `months` expected purchase counts, month 1 first.
  let probabilityAlive: [Double]
  let byMonth: [Double]
  /// Each customer's row; nil when rows are customers (days that are not whole).
  let rowOfCustomer: [Int32]?

  init(_ model: PurchaseModelParameters, summary: RepeatSummary, distinct: DistinctCustomers, months: Int) {
    rowOfCustomer = distinct.rowOfCustomer
    let (x, tx, age) = rowOfCustomer == nil ? (summary.frequency, summary.recency, summary.age) : (distinct.x, distinct.tx, distinct.age)
    let rows = x.count
    // Written row by row on every core, not zeroed first on one (see the loop).
    var byMonth: [Double] = []
    // BG/NBD's hypergeometric series depend on (x, T) only: taken once per pair when rows
    // are whole days, in (x, t_x, T) order.
    let curves = rowOfCustomer == nil ? nil : PurchaseCurves(model, x: x, age: age, horizons: (1...months).map { Double(30 * $0) })
    let known = LifetimeModels.probabilitiesAlive(model, distinct: distinct)
    let alive = [Double](unsafeUninitializedCapacity: rows) { alive, aliveMade in
      byMonth = [Double](unsafeUninitializedCapacity: rows * months) { byMonth, byMonthMade in
        concurrentChunks((rows + 4095) / 4096) { block in
          for row in block * 4096..<min(rows, (block + 1) * 4096) {
            let outlook =
              if let known { CustomerOutlook(model, x: x[row], tx: tx[row], age: age[row], probabilityAlive: known[row]) } else {
                CustomerOutlook(model, x: x[row], tx: tx[row], age: age[row])
              }
            alive[row] = outlook.probabilityAlive
            let out = UnsafeMutableBufferPointer(rebasing: byMonth[row * months..<(row + 1) * months])
            // Each month written whatever path fills it: the row starts at zero, as the
            // whole table once did.
            out.initialize(repeating: 0)
            if curves?.expectedPurchases(ofRow: row, x: x[row], tx: tx[row], age: age[row], into: out) != true {
              outlook.expectedPurchasesByMonth(into: out)
            }
          }
        }
        byMonthMade = rows * months
      }
      aliveMade = rows
    }
    (probabilityAlive, self.byMonth) = (alive, byMonth)
  }

  @inline(__always)
  func row(ofCustomer i: Int) -> Int { rowOfCustomer.map { Int($0[i]) } ?? i }
}

/// BG/NBD's (or MBG/NBD's) purchase curves (`LifetimeModels.purchaseCurveBG`) at some
/// horizons, once per distinct (x, T) of rows in (x, t_x, T) order with whole days,
/// computed on every core.
struct PurchaseCurves {
  let model: PurchaseModelParameters
  let a: Double
  let b: Double
  /// Horizons per curve.
  let horizonCount: Int
  /// Each row's (x, T) pair.
  private let pairOfRow: [Int32]
  /// Per pair, its `horizonCount` values, and whether the closed form holds for its x.
  private let values: [Double]
  private let holds: [Bool]

  /// Nil for Pareto/NBD, which has no such curve, and when a T is not a whole number of
  /// days within reach of a table indexed by day.
  init?(_ model: PurchaseModelParameters, x: [Double], age: [Double], horizons: [Double]) {
    let (a, b): (Double, Double)
    switch model.dropout {
    case .bgnbd(let da, let db), .mbgnbd(let da, let db): (a, b) = (da, db)
    case .pareto: return nil
    }
    guard let maxAge = age.max(), maxAge < 1e7, age.allSatisfy({ $0 >= 0 && $0 == $0.rounded() }) else { return nil }
    let months = horizons.count
    // Only the parameters: the fit's message and curvature are reference-counted, and
    // would be retained and released for every row.
    self.model = PurchaseModelParameters(r: model.r, alpha: model.alpha, dropout: model.dropout, fit: .unreported)
    (self.a, self.b, self.horizonCount) = (a, b, months)
    // Rows come sorted by x first: each x is one run, whose T are numbered as they appear
    // in a table indexed by day, cleared after the run.
    var pairX: [Double] = [], pairAge: [Double] = []
    var slot = [Int32](repeating: -1, count: Int(maxAge) + 1)
    // Every row's pair is written in the pass: no zeroing first.
    let pairOfRow = [Int32](unsafeUninitializedCapacity: x.count) { pairOfRow, made in
      var i = 0
      while i < x.count {
        let runX = x[i], firstPair = pairX.count
        while i < x.count && x[i] == runX {
          let day = Int(age[i])
          if slot[day] < 0 {
            slot[day] = Int32(pairX.count)
            pairX.append(runX)
            pairAge.append(age[i])
          }
          pairOfRow[i] = slot[day]
          i += 1
        }
        for pair in firstPair..<pairX.count { slot[Int(pairAge[pair])] = -1 }
      }
      made = x.count
    }
    let pairs = pairX.count
    var values = [Double](repeating: 0, count: pairs * months)
    var holds = [Bool](repeating: false, count: pairs)
    values.withUnsafeMutableBufferPointer { values in
      holds.withUnsafeMutableBufferPointer { holds in
        horizons.withUnsafeBufferPointer { horizons in
          concurrentChunks((pairs + 1023) / 1024) { block in
            for pair in block * 1024..<min(pairs, (block + 1) * 1024) {
              holds[pair] = LifetimeModels.purchaseCurveBG(
                model, a: a, b: b, horizons: horizons, x: pairX[pair], age: pairAge[pair],
                into: UnsafeMutableBufferPointer(rebasing: values[pair * months..<(pair + 1) * months]))
            }
          }
        }
      }
    }
    (self.pairOfRow, self.values, self.holds) = (pairOfRow, values, holds)
  }

  /// `row`'s expected purchases at each horizon from the curve of its (x, T), into `out`;
  /// false, and nothing written, where the closed form does not hold.
  @inline(__always)
  func expectedPurchases(ofRow row: Int, x: Double, tx: Double, age: Double, into out: UnsafeMutableBufferPointer<Double>) -> Bool {
    let pair = Int(pairOfRow[row])
    guard holds[pair] else { return false }
    let months = horizonCount
    values.withUnsafeBufferPointer { values in
      LifetimeModels.expectedPurchasesBG(
        model, a: a, b: b, x: x, tx: tx, age: age, curve: UnsafeBufferPointer(rebasing: values[pair * months..<(pair + 1) * months]), into: out)
    }
    return true
  }
}
