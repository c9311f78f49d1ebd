import Foundation

/// How well the purchase model predicted a period it did not see: fitted on the purchases
/// up to `calibrationEnd`, it predicts the `holdoutDays` after, which are then counted
/// (lifetimes' `calibration_and_holdout_data`, freq='D'). The model of the report is then
/// fitted again on all the data.
public struct ModelValidation: Sendable, Codable, Equatable {
  /// The purchase model with the smallest holdout error among `candidates` (or the one
  /// the job named): the one the report's predictions come from.
  public var model: PurchaseModel
  /// Each model tried, with its holdout error.
  public var candidates: [Candidate]
  /// Last day of the calibration period (YYYY-MM-DD).
  public var calibrationEnd: String
  public var holdoutDays: Int
  /// Customers with a purchase in the calibration period: the ones predicted.
  public var customers: Int
  /// Σ of the predicted purchases (purchase days) in the holdout, and what happened.
  public var predictedPurchases: Double
  public var actualPurchases: Int
  /// Mean absolute error per customer of the model's prediction…
  public var maePerCustomer: Double
  /// …and of the naive forecast: each customer's own past repeat rate (x / T) times the
  /// holdout's length.
  public var baselineMae: Double
  /// Σ predicted purchases × expected order value (spend model fitted on the calibration
  /// period), and the holdout revenue of the same customers.
  public var predictedRevenue: Double
  public var actualRevenue: Double
  /// Predicted against actual holdout purchases by calibration frequency (repeat purchase
  /// days 0, 1, … 6, and 7 or more): the calibration-vs-holdout plot.
  public var byFrequency: [FrequencyBin]

  /// One purchase model tried on the held-back days.
  public struct Candidate: Sendable, Codable, Equatable {
    public var model: PurchaseModel
    public var predictedPurchases: Double
    public var maePerCustomer: Double
  }

  /// The customers with one calibration frequency: predicted and actual holdout purchases.
  public struct FrequencyBin: Sendable, Codable, Equatable {
    /// Repeat purchase days in the calibration period; the last bin holds this many and more.
    public var frequency: Int
    public var customers: Int
    public var meanPredicted: Double
    public var meanActual: Double
  }

  /// The holdout an analysis of `observedDays` takes: `requested` when given, else the last
  /// quarter of the observed period and at least 60 days; nil when the calibration period
  /// left would be shorter than the holdout (the history is too short to check the model).
  public static func holdoutDays(observedDays: Int, requested: Int?) -> Int? {
    let holdout = requested ?? max(60, observedDays / 4)
    return observedDays - holdout >= holdout ? holdout : nil
  }

  /// The customers of `data` (purchases up to `lastDay`) split at the end of the calibration
  /// period, and the holdout's length; nil when the history is too short for the holdout or
  /// no customer bought before it. What `check` needs of the purchases: made apart, it may
  /// be made beside other work.
  static func calibration(_ data: TransactionData, lastDay: Int, requestedHoldout: Int?) -> (split: CalibrationSplit, holdout: Int, calibrationEnd: Int)? {
    guard let firstDay = data.orderDay.min().map(Int.init) else { return nil }
    let observed = lastDay - firstDay + 1
    guard let holdout = holdoutDays(observedDays: observed, requested: requestedHoldout) else { return nil }
    let calibrationEnd = lastDay - holdout
    let split = CalibrationSplit(data, calibrationEnd: calibrationEnd)
    guard split.count > 0 else { return nil }
    return (split, holdout, calibrationEnd)
  }

  /// Checks `models` (and the spend model for revenue) on the customers of a calibration
  /// split (`calibration`), and keeps the one with the smallest error per customer.
  /// The chosen model's and the spend model's calibration fits come along: the fits on all
  /// the data start from them.
  static func check(
    _ calibration: (split: CalibrationSplit, holdout: Int, calibrationEnd: Int), models: [PurchaseModel]
  ) -> (validation: ModelValidation, fit: PurchaseModelParameters, spend: GammaGammaParameters)? {
    let (split, holdout, calibrationEnd) = calibration
    let summary = split.summary
    // The spend model's fit waits on no purchase model: it runs on a thread of its own
    // beside them, filling what their steps leave idle.
    return withBackgroundWork({ LifetimeModels.fitGammaGamma(frequency: summary.spendFrequency, monetaryValue: summary.monetaryValue) }) { spendFit in
      let distinct = DistinctCustomers(summary, mappingCustomers: true)
      // One model fitted and its holdout predicted, customer by customer.
      func tried(_ model: PurchaseModel) -> (fit: PurchaseModelParameters, predicted: [Double], candidate: Candidate) {
        let fit = LifetimeModels.fit(model, to: summary, distinct: distinct, from: nil)
        // A prediction depends on (x, t_x, T) alone: once per distinct triple when they are known.
        var byRow: [Double] = []
        if distinct.rowOfCustomer != nil {
          // BG/NBD's hypergeometric series once per (x, T).
          let curves = PurchaseCurves(fit, x: distinct.x, age: distinct.age, horizons: [Double(holdout)])
          // Pareto/NBD's P(alive) row after row, its integrals continued along each run.
          let known = LifetimeModels.probabilitiesAlive(fit, distinct: distinct)
          byRow = [Double](repeating: 0, count: distinct.x.count)
          byRow.withUnsafeMutableBufferPointer { byRow in
            concurrentChunks((byRow.count + 4095) / 4096) { block in
              for g in block * 4096..<min(byRow.count, (block + 1) * 4096) {
                let (x, tx, age) = (distinct.x[g], distinct.tx[g], distinct.age[g])
                if curves?.expectedPurchases(ofRow: g, x: x, tx: tx, age: age, into: UnsafeMutableBufferPointer(rebasing: byRow[g...g])) != true {
                  let outlook =
                    if let known { CustomerOutlook(fit, x: x, tx: tx, age: age, probabilityAlive: known[g]) } else {
                      CustomerOutlook(fit, x: x, tx: tx, age: age)
                    }
                  byRow[g] = outlook.expectedPurchases(Double(holdout))
                }
              }
            }
          }
        }
        var predicted = [Double](repeating: 0, count: split.count)
        // Each customer's prediction on every core; the sums in block order, as the fits'.
        let sums = predicted.withUnsafeMutableBufferPointer { predicted in
          blockSums(split.count, blockSize: 4096) { block in
            var total = 0.0, error = 0.0
            for i in block {
              let value =
                if let rows = distinct.rowOfCustomer { byRow[Int(rows[i])] } else {
                  CustomerOutlook(fit, x: summary.frequency[i], tx: summary.recency[i], age: summary.age[i]).expectedPurchases(Double(holdout))
                }
              predicted[i] = value
              total += value
              error += abs(value - Double(split.holdoutDays[i]))
            }
            return SIMD8(total, error, 0, 0, 0, 0, 0, 0)
          }
        }
        return (fit, predicted, Candidate(model: model, predictedPurchases: sums[0], maePerCustomer: sums[1] / Double(max(1, split.count))))
      }
      // The last model (Pareto/NBD, whose integrals make it the costliest) on this thread,
      // the others in turn on a thread of their own: each fit's steps leave the cores idle
      // between them, and the two fill each other's gaps. The candidates keep their order.
      let candidates =
        models.count < 2
        ? models.map(tried)
        : withBackgroundWork({ models.dropLast().map(tried) }) { others in
          let last = tried(models.last!)
          return others() + [last]
        }
      guard let best = candidates.min(by: { $0.candidate.maePerCustomer < $1.candidate.maePerCustomer }) else { return nil }
      let spend = spendFit()
      let bins = 8
      // Per customer on every core, in blocks of 4096 whose totals are added in block order:
      // the same digits whatever the number of cores. The chosen model's error and total
      // were computed when the models were compared.
      let (frequency, age, spendFrequency, monetaryValue) = (summary.frequency, summary.age, summary.spendFrequency, summary.monetaryValue)
      let (holdoutDays, holdoutSpend, monetary, predictedByCustomer) = (split.holdoutDays, split.holdoutSpend, split.monetary, best.predicted)
      let all = blockTotals(split.count, blockSize: 4096, zero: HoldoutTotals()) { block in
        var sums = HoldoutTotals()
        for i in block {
          let (x, age) = (frequency[i], age[i])
          let predicted = predictedByCustomer[i]
          let baseline = age > 0 ? x / age * Double(holdout) : 0
          let happened = holdoutDays[i]
          sums.actual += happened
          sums.baselineError += abs(baseline - Double(happened))
          let value = monetary[i] > 0 ? LifetimeModels.expectedAverageValue(spend, x: spendFrequency[i], m: monetaryValue[i]) : 0
          sums.predictedRevenue += predicted * value
          sums.actualRevenue += holdoutSpend[i]
          let bin = min(bins - 1, Int(x))
          sums.customers[bin] += 1
          sums.predicted[bin] += predicted
          sums.happened[bin] += Double(happened)
        }
        return sums
      } adding: { $0.add($1) }
      let n = Double(max(1, split.count))
      let validation = ModelValidation(
        model: best.fit.model, candidates: candidates.map(\.candidate), calibrationEnd: isoDate(calibrationEnd), holdoutDays: holdout, customers: split.count,
        predictedPurchases: best.candidate.predictedPurchases, actualPurchases: all.actual, maePerCustomer: best.candidate.maePerCustomer, baselineMae: all.baselineError / n,
        predictedRevenue: all.predictedRevenue, actualRevenue: all.actualRevenue,
        byFrequency: (0..<bins).compactMap { b in
          guard all.customers[b] > 0 else { return nil }
          let count = Double(all.customers[b])
          return FrequencyBin(frequency: b, customers: all.customers[b], meanPredicted: all.predicted[b] / count, meanActual: all.happened[b] / count)
        })
      return (validation, best.fit, spend)
    }
  }
}

/// What the holdout check adds up over customers: purchases and revenue, predicted and
/// actual, the baseline's error, and the predictions by calibration frequency (eight bins).
private struct HoldoutTotals {
  var actual = 0
  var baselineError = 0.0
  var predictedRevenue = 0.0
  var actualRevenue = 0.0
  var customers = SIMD8<Int>.zero
  var predicted = SIMD8<Double>.zero
  var happened = SIMD8<Double>.zero

  mutating func add(_ other: HoldoutTotals) {
    actual += other.actual
    baselineError += other.baselineError
    predictedRevenue += other.predictedRevenue
    actualRevenue += other.actualRevenue
    customers &+= other.customers
    predicted += other.predicted
    happened += other.happened
  }
}

/// The customers with a purchase in the calibration period (up to `calibrationEnd`): their
/// repeat summary over that period, exactly as `RepeatSummary` of a customer table of the
/// calibration orders gives it (T up to the period's end), and what each did in the
/// holdout after it. One pass over the orders in customer and day order, so that neither
/// the calibration orders nor a table of them are copied.
struct CalibrationSplit {
  var summary: RepeatSummary
  /// Spend in the calibration period.
  var monetary: [Double] = []
  /// Purchase days and spend in the holdout.
  var holdoutDays: [Int] = []
  var holdoutSpend: [Double] = []

  var count: Int { monetary.count }

  init(_ data: TransactionData, calibrationEnd: Int) {
    var data = data
    data.sortOrdersByCustomerAndDay()
    var (frequency, recency, age, monetaryValue, spendFrequency) = ([Double](), [Double](), [Double](), [Double](), [Double]())
    // A row per customer at most: room made once, where growing eight arrays by doubling
    // copied each several times and had the kernel zero fresh pages for every copy.
    let rows = data.customerIDs.count
    frequency.reserveCapacity(rows)
    recency.reserveCapacity(rows)
    age.reserveCapacity(rows)
    monetaryValue.reserveCapacity(rows)
    spendFrequency.reserveCapacity(rows)
    monetary.reserveCapacity(rows)
    holdoutDays.reserveCapacity(rows)
    holdoutSpend.reserveCapacity(rows)
    let end = Int32(clamping: calibrationEnd)
    var o = 0
    while o < data.orderCount {
      let customer = data.orderCustomer[o]
      let first = data.orderDay[o]
      var (days, lastDay, spend, paidDays, paidSpend) = (0, first, 0.0, 0, 0.0)
      // The calibration orders come first, in day order; a day's spend counts toward the
      // spend model when it is a repeat day with a positive total.
      while o < data.orderCount && data.orderCustomer[o] == customer && data.orderDay[o] <= end {
        let day = data.orderDay[o]
        var daySpend = 0.0
        while o < data.orderCount && data.orderCustomer[o] == customer && data.orderDay[o] == day {
          spend += data.orderAmount[o]
          daySpend += data.orderAmount[o]
          o += 1
        }
        days += 1
        lastDay = day
        if day != first && daySpend > 0 {
          paidDays += 1
          paidSpend += daySpend
        }
      }
      var (laterDays, laterSpend, previous) = (0, 0.0, Int32.min)
      while o < data.orderCount && data.orderCustomer[o] == customer {
        laterSpend += data.orderAmount[o]
        if data.orderDay[o] != previous { laterDays += 1 }
        previous = data.orderDay[o]
        o += 1
      }
      // A customer whose first purchase is in the holdout is not predicted.
      guard days > 0 else { continue }
      frequency.append(Double(days - 1))
      recency.append(Double(lastDay - first))
      age.append(Double(calibrationEnd - Int(first)))
      spendFrequency.append(Double(paidDays))
      monetaryValue.append(paidDays > 0 ? paidSpend / Double(paidDays) : 0)
      monetary.append(spend)
      holdoutDays.append(laterDays)
      holdoutSpend.append(laterSpend)
    }
    summary = RepeatSummary(frequency: frequency, recency: recency, age: age, monetaryValue: monetaryValue, spendFrequency: spendFrequency)
  }
}

/// A limit of the lifetime models on this data, with a stable id (docs/metrics.md).
public struct ModelDiagnostic: Sendable, Codable, Equatable {
  public var id: DiagnosticID
  /// What was measured, in English, with the figures.
  public var message: String
  /// The figure the diagnostic is about (a probability, a share, days, an error).
  public var value: Double
  /// The customers concerned, when it is about customers.
  public var customers: Int?
}

/// The diagnostics an analysis may raise about its lifetime models.
public enum DiagnosticID: String, CaseIterable, Sendable, Codable {
  /// Customers silent for longer than lost_days keep a mean P(alive) above 0.9: the model
  /// sees no dropout in this data, so its P(alive) cannot tell who left.
  case dropoutNotIdentified = "dropout_not_identified"
  /// Under 180 days of purchases, or too few for a holdout: the model saw little.
  case shortHistory = "short_history"
  /// On the holdout, the model erred more per customer than each customer's own past rate.
  case holdoutWorseThanBaseline = "holdout_worse_than_baseline"
  /// Fewer than 10 % of the customers (or fewer than 30) bought twice: the purchase and
  /// spend models rest on few repeat buyers.
  case fewRepeatBuyers = "few_repeat_buyers"
  /// Every customer's expected purchases lie within 1 % of one another: the purchase model's
  /// fit tells no customer from another, and its per-customer predictions are one figure.
  case predictionsUndifferentiated = "predictions_undifferentiated"
}

enum Diagnostics {
  /// The diagnostics of a fitted analysis.
  static func of(
    table: CustomerTable, probabilityAlive: [Double], expectedPurchases: [Double], validation: ModelValidation?, observedDays: Int, lostDays: Int
  ) -> [ModelDiagnostic] {
    var found: [ModelDiagnostic] = []
    let silent = (0..<table.count).filter { Int(table.recency[$0]) > lostDays }
    if !silent.isEmpty {
      let meanAlive = silent.reduce(0) { $0 + probabilityAlive[$1] } / Double(silent.count)
      if meanAlive > 0.9 {
        found.append(.init(
          id: .dropoutNotIdentified,
          message: "the \(silent.count) customers silent for more than \(lostDays) days keep a mean probability of being alive of \(String(format: "%.1f", meanAlive * 100)) %: the model finds no dropout in this data and cannot tell who left; recency is used instead",
          value: meanAlive, customers: silent.count))
      }
    }
    if observedDays < 180 || validation == nil {
      found.append(.init(
        id: .shortHistory,
        message: "\(observedDays) days of purchases\(validation == nil ? ", too few to hold some back and check the model" : ""): predictions rest on a short history",
        value: Double(observedDays), customers: nil))
    }
    if let v = validation, v.maePerCustomer > v.baselineMae {
      found.append(.init(
        id: .holdoutWorseThanBaseline,
        message: "over the last \(v.holdoutDays) days, held back, the model erred by \(String(format: "%.3f", v.maePerCustomer)) purchases per customer, against \(String(format: "%.3f", v.baselineMae)) for each customer's own past rate",
        value: v.maePerCustomer, customers: v.customers))
    }
    let repeaters = table.purchaseDays.filter { $0 > 1 }.count
    let share = Double(repeaters) / Double(max(1, table.count))
    if share < 0.10 || repeaters < 30 {
      found.append(.init(
        id: .fewRepeatBuyers,
        message: "\(repeaters) customers (\(String(format: "%.1f", share * 100)) %) bought on more than one day: the purchase and spend models rest on few repeat buyers",
        value: share, customers: repeaters))
    }
    // A fit at the edge of its range (a purchase rate shared by all, no dropout) gives every
    // customer the same prediction: a list or a value per customer would then say nothing.
    if expectedPurchases.count > 1, let low = expectedPurchases.min(), let high = expectedPurchases.max(), high > 0, high - low <= 0.01 * high {
      let spread = (high - low) / high
      found.append(.init(
        id: .predictionsUndifferentiated,
        message: "every customer's expected purchases over the horizon lie between \(String(format: "%.4f", low)) and \(String(format: "%.4f", high)) (\(String(format: "%.2f", spread * 100)) % apart): the purchase model tells no customer from another on this data, and its per-customer predictions are one figure; rank the customers by their own history (RFM) instead",
        value: spread, customers: expectedPurchases.count))
    }
    return found
  }
}
