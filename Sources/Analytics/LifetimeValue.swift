import Foundation

/// Per-customer inputs of the BG/NBD and Gamma-Gamma models, as Python's lifetimes builds
/// them with `summary_data_from_transaction_data(..., freq='D')`:
/// frequency x = distinct purchase days − 1; recency t_x = last − first purchase day;
/// T = end of observation (the last day of data) − first purchase day; monetary value =
/// mean spend of the repeat purchase days (0 when x = 0).
public struct RepeatSummary: Sendable {
  public var frequency: [Double]
  public var recency: [Double]
  public var age: [Double]
  /// Mean spend of the repeat purchase days with a positive spend (0 without any).
  public var monetaryValue: [Double]
  /// How many repeat purchase days had a positive spend: the spend model's frequency. It
  /// equals `frequency` unless 0.00 purchases or returns left days without revenue.
  public var spendFrequency: [Double]

  public init(frequency: [Double], recency: [Double], age: [Double], monetaryValue: [Double], spendFrequency: [Double]? = nil) {
    self.frequency = frequency
    self.recency = recency
    self.age = age
    self.monetaryValue = monetaryValue
    self.spendFrequency = spendFrequency ?? frequency
  }

  /// Every `stride`-th customer, from the first.
  func everyCustomer(stride step: Int) -> RepeatSummary {
    func take(_ values: [Double]) -> [Double] { Swift.stride(from: 0, to: values.count, by: step).map { values[$0] } }
    return RepeatSummary(frequency: take(frequency), recency: take(recency), age: take(age), monetaryValue: take(monetaryValue), spendFrequency: take(spendFrequency))
  }

  /// The summary of a customer table.
  public init(_ table: CustomerTable) {
    // Five columns of a million on every core: alone on one, they kept the other idle for
    // tens of milliseconds, most of it the kernel handing out the pages.
    let n = table.count
    let (purchaseDays, firstDay, lastDay, lastDataDay) = (table.purchaseDays, table.firstDay, table.lastDay, table.lastDataDay)
    let (paidDays, paidSpend) = (table.paidRepeatDays, table.paidRepeatSpend)
    frequency = concurrentArray(count: n) { Double(purchaseDays[$0] - 1) }
    recency = concurrentArray(count: n) { Double(lastDay[$0] - firstDay[$0]) }
    age = concurrentArray(count: n) { Double(lastDataDay - Int(firstDay[$0])) }
    spendFrequency = concurrentArray(count: n) { Double(paidDays[$0]) }
    monetaryValue = concurrentArray(count: n) { i in paidDays[i] > 0 ? paidSpend[i] / Double(paidDays[i]) : 0 }
  }
}

/// The distinct (x, t_x, T) of a population, sorted, with how many customers share each:
/// the purchase models' likelihoods are sums over customers, and identical ones need
/// computing once. Sorted, so that sums run in the same order every time: same input, same
/// digits. Built once per population and shared by every model fitted on it.
struct DistinctCustomers: Sendable {
  var x: [Double] = []
  var tx: [Double] = []
  var age: [Double] = []
  var weight: [Double] = []
  /// When asked for and the days are whole: each customer's row in the arrays above, so
  /// that what depends on (x, t_x, T) alone is computed once per row.
  var rowOfCustomer: [Int32]?

  init(_ s: RepeatSummary, mappingCustomers: Bool = false) {
    if let days = Self.wholeDays(s) {
      // Customers ordered by (x, t_x, T) with three stable counting sorts, T first: linear
      // in the customers, where a comparison sort and a binary search per customer for
      // its row took several times longer on a million.
      let n = s.frequency.count
      var order = concurrentArray(count: n) { Int32($0) }
      for key in [days.age, days.tx, days.x] { order = Self.stablyCounted(order, by: key) }
      // Each customer's (x, t_x, T) in one word, in that order: the runs of equal words are
      // then found in one pass over contiguous memory, not three reads at random per customer.
      let keys = order.withUnsafeBufferPointer { order in
        concurrentArray(count: n) { i in
          let c = Int(order[i])
          return UInt64(days.x[c]) << 42 | UInt64(days.tx[c]) << 21 | UInt64(days.age[c])
        }
      }
      // The runs of equal keys are the rows: counted, then written, in slices on every core
      // that begin where a run does (one pass on one core was 50 ms of a million customers,
      // with the other core idle). The rows are numbered as one pass in order would.
      let slices = sliceCount(n)
      let cuts = keys.withUnsafeBufferPointer { runAlignedCuts($0, slices: slices) }
      var firstRow = [Int](repeating: 0, count: slices + 1)
      keys.withUnsafeBufferPointer { keys in
        firstRow.withUnsafeMutableBufferPointer { firstRow in
          concurrentChunks(slices) { s in
            var runs = 0
            for i in cuts[s]..<cuts[s + 1] where i == cuts[s] || keys[i] != keys[i - 1] { runs += 1 }
            firstRow[s + 1] = runs
          }
        }
      }
      for s in 0..<slices { firstRow[s + 1] += firstRow[s] }
      let rowCount = firstRow[slices]
      let field = UInt64(1 << 21 - 1)
      var rows: [Int32] = []
      func fill(_ x: UnsafeMutableBufferPointer<Double>, _ tx: UnsafeMutableBufferPointer<Double>, _ age: UnsafeMutableBufferPointer<Double>, _ weight: UnsafeMutableBufferPointer<Double>, _ rows: UnsafeMutableBufferPointer<Int32>?) {
        nonisolated(unsafe) let out = (x, tx, age, weight, rows)
        keys.withUnsafeBufferPointer { keys in
          order.withUnsafeBufferPointer { order in
            concurrentChunks(slices) { s in
              let (x, tx, age, weight, rows) = out
              var row = firstRow[s]
              var i = cuts[s]
              while i < cuts[s + 1] {
                let key = keys[i]
                var j = i + 1
                while j < n && keys[j] == key { j += 1 }
                if let rows { for k in i..<j { (rows.baseAddress! + Int(order[k])).initialize(to: Int32(row)) } }
                (x.baseAddress! + row).initialize(to: Double(key >> 42))
                (tx.baseAddress! + row).initialize(to: Double(key >> 21 & field))
                (age.baseAddress! + row).initialize(to: Double(key & field))
                (weight.baseAddress! + row).initialize(to: Double(j - i))
                row += 1
                i = j
              }
            }
          }
        }
      }
      x = [Double](unsafeUninitializedCapacity: rowCount) { x, xMade in
        tx = [Double](unsafeUninitializedCapacity: rowCount) { tx, txMade in
          age = [Double](unsafeUninitializedCapacity: rowCount) { age, ageMade in
            weight = [Double](unsafeUninitializedCapacity: rowCount) { weight, weightMade in
              if mappingCustomers {
                // Every customer is in one run: each place is written once.
                rows = [Int32](unsafeUninitializedCapacity: n) { rows, rowsMade in
                  fill(x, tx, age, weight, rows)
                  rowsMade = n
                }
              } else {
                fill(x, tx, age, weight, nil)
              }
              weightMade = rowCount
            }
            ageMade = rowCount
          }
          txMade = rowCount
        }
        xMade = rowCount
      }
      if mappingCustomers { rowOfCustomer = rows }
    } else {
      var groups: [SIMD3<Double>: Double] = [:]
      for i in s.frequency.indices { groups[SIMD3(s.frequency[i], s.recency[i], s.age[i]), default: 0] += 1 }
      let keys = groups.keys.sorted { ($0.x, $0.y, $0.z) < ($1.x, $1.y, $1.z) }
      (x, tx, age, weight) = (keys.map(\.x), keys.map(\.y), keys.map(\.z), keys.map { groups[$0]! })
    }
  }

  /// x, t_x and T as whole day counts below 2^21; nil when a value is not one.
  private static func wholeDays(_ s: RepeatSummary) -> (x: [UInt32], tx: [UInt32], age: [UInt32])? {
    let limit = Double(1 << 21)
    // In slices on every core (a million customers, three times); a slice that meets a value
    // that is not one stops there, and the whole answer is nil.
    func whole(_ values: [Double]) -> [UInt32]? {
      let n = values.count
      let slices = sliceCount(n)
      var out = [UInt32](repeating: 0, count: n)
      let whole = values.withUnsafeBufferPointer { values in
        out.withUnsafeMutableBufferPointer { out in
          blockTotals(n, blockSize: max(1, (n + slices - 1) / slices), zero: true) { slice in
            for i in slice {
              let v = values[i]
              guard v >= 0, v < limit, v.rounded() == v else { return false }
              out[i] = UInt32(v)
            }
            return true
          } adding: { $0 = $0 && $1 }
        }
      }
      return whole ? out : nil
    }
    guard let x = whole(s.frequency), let tx = whole(s.recency), let age = whole(s.age) else { return nil }
    return (x, tx, age)
  }

  /// `order` stably sorted by `key` of each element: a counting sort on every core, each
  /// counting and then placing a slice of `order`. A value's places for one slice follow
  /// those for the slices before it, so that equal keys keep their order; alone on one
  /// core, the three sorts of a million customers were a fifth of a second, twice per
  /// analysis.
  static func stablyCounted(_ order: [Int32], by key: [UInt32]) -> [Int32] {
    let n = order.count
    let largest = Int(key.max() ?? 0)
    let slices = n < 1 << 16 ? 1 : activeCores
    func slice(_ s: Int) -> Range<Int> { sliceRange(s, of: slices, count: n) }
    return order.withUnsafeBufferPointer { order in
      key.withUnsafeBufferPointer { key in
        // Each slice's count of each value, then turned into its first place.
        var places = [[Int]](repeating: [], count: slices)
        places.withUnsafeMutableBufferPointer { places in
          concurrentChunks(slices) { s in
            var counts = [Int](repeating: 0, count: largest + 1)
            for i in slice(s) { counts[Int(key[Int(order[i])])] += 1 }
            places[s] = counts
          }
        }
        var next = 0
        for v in 0...largest {
          for s in 0..<slices {
            let count = places[s][v]
            places[s][v] = next
            next += count
          }
        }
        return [Int32](unsafeUninitializedCapacity: n) { sorted, initialized in
          places.withUnsafeMutableBufferPointer { places in
            concurrentChunks(slices) { s in
              places[s].withUnsafeMutableBufferPointer { place in
                for i in slice(s) {
                  let customer = order[i]
                  let v = Int(key[Int(customer)])
                  (sorted.baseAddress! + place[v]).initialize(to: customer)
                  place[v] += 1
                }
              }
            }
          }
          initialized = n
        }
      }
    }
  }
}

/// Outcome of a maximum-likelihood fit.
public struct ModelFit: Sendable, Codable, Equatable {
  public var converged: Bool
  public var iterations: Int
  /// Mean log-likelihood per customer at the optimum.
  public var logLikelihood: Double
  public var message: String
  /// The search's estimate of the inverse Hessian at the optimum (log-parameters): a search
  /// on similar data that starts from this fit starts with its curvature too, and takes a
  /// few Newton-like steps instead of learning the curvature again. Not part of the report.
  var curvature: [[Double]]? = nil

  enum CodingKeys: String, CodingKey { case converged, iterations, logLikelihood, message }

  init(converged: Bool, iterations: Int, logLikelihood: Double, message: String) {
    (self.converged, self.iterations, self.logLikelihood, self.message) = (converged, iterations, logLikelihood, message)
  }

  /// No fit to report: the parameters came from elsewhere.
  static let unreported = ModelFit(converged: true, iterations: 0, logLikelihood: 0, message: "")

  /// The outcome of a minimisation of minus the mean log-likelihood.
  init(_ result: MinimizeResult) {
    self.init(converged: result.converged, iterations: result.iterations, logLikelihood: -result.value, message: result.message)
    curvature = result.inverseHessian
  }

  /// Equal outcomes; the search's curvature is not compared.
  public static func == (a: ModelFit, b: ModelFit) -> Bool {
    (a.converged, a.iterations, a.logLikelihood, a.message) == (b.converged, b.iterations, b.logLikelihood, b.message)
  }
}

/// A fitted purchase model: purchases at a gamma-distributed Poisson rate (r, α) while
/// alive, and one of three ways of dropping out (`Dropout`). `model` names which.
public struct PurchaseModelParameters: Sendable, Equatable {
  public var r: Double
  public var alpha: Double
  public var dropout: Dropout
  public var fit: ModelFit

  /// How a customer drops out, with the parameters of that model.
  public enum Dropout: Sendable, Equatable {
    /// BG/NBD (Fader, Hardie & Lee 2005): after each repeat purchase with probability
    /// p ~ Beta(a, b).
    case bgnbd(a: Double, b: Double)
    /// MBG/NBD (Batislam et al. 2007): also right after the first purchase.
    case mbgnbd(a: Double, b: Double)
    /// Pareto/NBD (Schmittlein et al. 1987): at any moment, at rate μ ~ Γ(s, β).
    case pareto(s: Double, beta: Double)
  }

  public init(r: Double, alpha: Double, dropout: Dropout, fit: ModelFit) {
    self.r = r
    self.alpha = alpha
    self.dropout = dropout
    self.fit = fit
  }

  /// Which model this is.
  public var model: PurchaseModel {
    switch dropout {
    case .bgnbd: .bgnbd
    case .mbgnbd: .mbgnbd
    case .pareto: .paretonbd
    }
  }
}

extension PurchaseModelParameters: Codable {
  /// Flat, as the report's JSON shows them: model, r, alpha, then a and b or s and beta.
  enum CodingKeys: String, CodingKey { case model, r, alpha, a, b, s, beta, fit }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(model, forKey: .model)
    try c.encode(r, forKey: .r)
    try c.encode(alpha, forKey: .alpha)
    switch dropout {
    case .bgnbd(let a, let b), .mbgnbd(let a, let b):
      try c.encode(a, forKey: .a)
      try c.encode(b, forKey: .b)
    case .pareto(let s, let beta):
      try c.encode(s, forKey: .s)
      try c.encode(beta, forKey: .beta)
    }
    try c.encode(fit, forKey: .fit)
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    r = try c.decode(Double.self, forKey: .r)
    alpha = try c.decode(Double.self, forKey: .alpha)
    fit = try c.decode(ModelFit.self, forKey: .fit)
    switch try c.decode(PurchaseModel.self, forKey: .model) {
    case .bgnbd: dropout = .bgnbd(a: try c.decode(Double.self, forKey: .a), b: try c.decode(Double.self, forKey: .b))
    case .mbgnbd: dropout = .mbgnbd(a: try c.decode(Double.self, forKey: .a), b: try c.decode(Double.self, forKey: .b))
    case .paretonbd: dropout = .pareto(s: try c.decode(Double.self, forKey: .s), beta: try c.decode(Double.self, forKey: .beta))
    }
  }
}

/// Gamma-Gamma spend model parameters (Fader & Hardie, 2013).
public struct GammaGammaParameters: Sendable, Codable, Equatable {
  public var p: Double
  public var q: Double
  public var v: Double
  public var fit: ModelFit
}

/// Digamma ψ(x) for x > 0 (recurrence to x ≥ 6, then the asymptotic series).
public func digamma(_ x: Double) -> Double {
  var x = x
  var result = 0.0
  while x < 6 {
    result -= 1 / x
    x += 1
  }
  let f = 1 / (x * x)
  result += log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))))
  return result
}

/// Gauss hypergeometric ₂F₁(a, b; c; z) for 0 ≤ z < 1 by its power series.
public func hypergeometric2F1(_ a: Double, _ b: Double, _ c: Double, _ z: Double) -> Double {
  var term = 1.0
  var sum = 1.0
  for n in 0..<100_000 {
    let nd = Double(n)
    term *= (a + nd) * (b + nd) / ((c + nd) * (nd + 1)) * z
    sum += term
    if abs(term) < 1e-15 * abs(sum) { break }
  }
  return sum
}

/// ₂F₁(a, b; c; zᵢ) for every zᵢ in `z` at once, into `sums`, each equal to the bit to
/// `hypergeometric2F1(a, b, c, zᵢ)`: the series share their coefficients, so the work of
/// a term is a multiplication per value instead of a division, and the values' chains of
/// multiplications overlap instead of waiting on each other. A value whose series has
/// converged stops changing: its z becomes 0, so its later terms add exactly nothing.
/// `z` is overwritten; `terms` is scratch of the same count.
func hypergeometric2F1(
  _ a: Double, _ b: Double, _ c: Double, z: UnsafeMutableBufferPointer<Double>, into sums: UnsafeMutableBufferPointer<Double>,
  terms: UnsafeMutableBufferPointer<Double>
) {
  let count = z.count
  for j in 0..<count {
    terms[j] = 1
    sums[j] = 1
  }
  // Values with a smaller z converge sooner: those before `low` have all converged.
  var low = 0
  for n in 0..<100_000 {
    let nd = Double(n)
    let ratio = (a + nd) * (b + nd) / ((c + nd) * (nd + 1))
    var remaining = false
    for j in low..<count {
      let term = terms[j] * (ratio * z[j])
      let sum = sums[j] + term
      terms[j] = term
      sums[j] = sum
      let converged = abs(term) < 1e-15 * abs(sum)
      z[j] = converged ? 0 : z[j]
      remaining = remaining || !converged
    }
    if !remaining { break }
    while z[low] == 0 { low += 1 }
  }
}

/// BG/NBD and Gamma-Gamma: fitting by maximum likelihood and the per-customer predictions.
public enum LifetimeModels {
  /// Parameters are searched in log space within these bounds, so the fit never returns a
  /// non-positive or runaway value.
  static let logBounds: ClosedRange<Double> = log(1e-6)...log(1e6)

  // MARK: BG/NBD

  /// Fits `model` by maximum likelihood on the customers' (x, t_x, T), the search starting
  /// from `start` when given (a fit of the same model on similar data), else from 1s.
  public static func fit(_ model: PurchaseModel, to s: RepeatSummary, from start: PurchaseModelParameters? = nil) -> PurchaseModelParameters {
    fit(model, to: s, distinct: DistinctCustomers(s), from: start)
  }

  /// Customers in the smallest sample whose fit starts the search on a large population.
  static let warmStartCustomers = 20_000
  /// The same for the purchase models, whose samples come in a chain (see `fit`).
  static let purchaseWarmStartCustomers = 2_500

  /// Every how many customers the sample that starts the search on `n` customers takes one:
  /// a twentieth of them, at least `warmStartCustomers` (a larger population's fit needs a
  /// closer start to finish in a few steps); nil below four times that, where the search
  /// starts from 1s.
  static func warmStartStride(_ n: Int, smallest: Int = warmStartCustomers) -> Int? {
    n >= 4 * smallest ? n / max(smallest, n / 20) : nil
  }

  /// `point` (log-parameters) held within `logBounds`; nil when a value is not finite.
  static func clampedLogPoint(_ point: [Double]) -> [Double]? {
    point.allSatisfy(\.isFinite) ? point.map { min(max($0, logBounds.lowerBound), logBounds.upperBound) } : nil
  }

  /// `fit(_:to:from:)` with the population's customers already grouped. Without a start,
  /// a large population's search starts from the fit on an evenly spaced sample of its
  /// customers (`warmStartStride`): most of the steps are taken on the sample, and
  /// the last few, to the same optimum and tolerance, on everyone. The sample's own fit
  /// starts the same way, down to `purchaseWarmStartCustomers`: on a million customers,
  /// 2,500 then 50,000 then all, where 25 steps of Pareto/NBD on 50,000 cost a fifth of a
  /// second and 6 after the small sample's fit a twentieth.
  static func fit(_ model: PurchaseModel, to s: RepeatSummary, distinct: DistinctCustomers, from start: PurchaseModelParameters?) -> PurchaseModelParameters {
    var start = start?.model == model ? start : nil
    if start == nil, let step = warmStartStride(s.frequency.count, smallest: purchaseWarmStartCustomers) {
      let sample = s.everyCustomer(stride: step)
      start = fit(model, to: sample, distinct: DistinctCustomers(sample), from: nil)
    }
    return fit(model, to: distinct, from: start)
  }

  /// `fit(_:to:from:)` on customers already grouped, for fitting several models on one population.
  static func fit(_ model: PurchaseModel, to s: DistinctCustomers, from start: PurchaseModelParameters? = nil) -> PurchaseModelParameters {
    let start = start?.model == model ? start : nil
    switch model {
    case .bgnbd, .mbgnbd: return fitBGNBD(s, modified: model == .mbgnbd, from: start)
    case .paretonbd: return ParetoNBD.fit(s, from: start)
    }
  }

  /// The search's starting point for `start` in log-parameters, time scaled by `scale`;
  /// the origin (all parameters 1) without one.
  static func startingPoint(_ start: PurchaseModelParameters?, scale: Double) -> [Double] {
    guard let start else { return [0, 0, 0, 0] }
    let dropout: (Double, Double) =
      switch start.dropout {
      case .bgnbd(let a, let b), .mbgnbd(let a, let b): (a, b)
      case .pareto(let s, let beta): (s, beta * scale)
      }
    return clampedLogPoint([log(start.r), log(start.alpha * scale), log(dropout.0), log(dropout.1)]) ?? [0, 0, 0, 0]
  }

  /// ln Γ(z+k) − ln Γ(z) and ψ(z+k) − ψ(z) for k = 0…n, by the recurrences
  /// Γ(z+1) = z Γ(z) and ψ(z+1) = ψ(z) + 1/z: the likelihoods need them for every count seen.
  static func gammaRatios(_ z: Double, upTo n: Int) -> (logGamma: [Double], digamma: [Double]) {
    var lg = [Double](repeating: 0, count: n + 1), dg = lg
    for k in 1...max(1, n) where k <= n {
      let j = Double(k - 1)
      lg[k] = lg[k - 1] + log(z + j)
      dg[k] = dg[k - 1] + 1 / (z + j)
    }
    return (lg, dg)
  }

  /// Fits BG/NBD, or MBG/NBD when `modified`, by maximising the mean log-likelihood (BFGS
  /// on log-parameters with the analytic gradient). Customers with identical (x, t_x, T)
  /// are counted once, weighted.
  static func fitBGNBD(_ s: DistinctCustomers, modified: Bool, from start: PurchaseModelParameters? = nil) -> PurchaseModelParameters {
    let (x, tx, big, w) = (s.x, s.tx, s.age, s.weight)
    let total = w.reduce(0, +)
    // MBG/NBD reads the tables one purchase further.
    let maxX = Int(x.max() ?? 0) + (modified ? 1 : 0)
    // Scale time as lifetimes does (1 / max T), for a well-conditioned search.
    let scale = 1 / max(big.max() ?? 1, 1)
    // Hundreds of thousands of rows: on every core.
    let txs = concurrentArray(count: tx.count) { tx[$0] * scale }
    let ts = concurrentArray(count: big.count) { big[$0] * scale }
    let xi = concurrentArray(count: x.count) { Int(x[$0]) }
    // ln(α+T) and ln(α+t_x) are taken once per distinct day and step.
    let (ages, lastPurchases) = (DistinctValues(big).scaled(by: scale), DistinctValues(tx).scaled(by: scale))

    func objective(_ theta: [Double]) -> (Double, [Double]) {
      let r = exp(theta[0]), alpha = exp(theta[1]), a = exp(theta[2]), b = exp(theta[3])
      // Per-x terms: ln Γ(r+x) − ln Γ(r), ψ(r+x) − ψ(r), and the same for b and a+b.
      let (lgR, dgR) = gammaRatios(r, upTo: maxX)
      let (lgB, dgB) = gammaRatios(b, upTo: maxX)
      let (lgAB, dgAB) = gammaRatios(a + b, upTo: maxX)
      let logAlpha = log(alpha), logA = log(a)
      let logAlphaAge = ages.values.map { log(alpha + $0) }
      let logAlphaTx = lastPurchases.values.map { log(alpha + $0) }
      let sums = blockSums(x.count) { block in
        let (ageIndex, txIndex) = (ages.index, lastPurchases.index)
        var ll = 0.0
        var gr = 0.0, gal = 0.0, ga = 0.0, gb = 0.0
        // Customers come sorted by (x, t_x, T): ln(b+x−1) changes only between runs, and is
        // taken again only then.
        var (runBx, logBx) = (Double.nan, 0.0)
        for i in block {
          let xv = x[i], k = xi[i], weight = w[i]
          // BG/NBD's dropout terms use b + x − 1 and count x; MBG/NBD's b + x and x + 1.
          let kb = modified ? k + 1 : k
          let bx = modified ? b + xv : b + xv - 1
          let a1 = lgR[k] + r * logAlpha
          let a2 = lgB[kb] - lgAB[kb]
          let logAT = logAlphaAge[Int(ageIndex[i])]
          let l3 = -(r + xv) * logAT
          var l = l3
          var w3 = 1.0, w4 = 0.0
          var logATx = 0.0
          let dropoutTerm = k > 0 || modified
          if dropoutTerm {
            if bx != runBx { (runBx, logBx) = (bx, log(bx)) }
            logATx = logAlphaTx[Int(txIndex[i])]
            let l4 = logA - logBx - (r + xv) * logATx
            let m = max(l3, l4)
            // The larger term's exponential is e⁰ = 1.
            let e3 = l3 == m ? 1 : exp(l3 - m), e4 = l4 == m ? 1 : exp(l4 - m)
            l = m + log(e3 + e4)
            w3 = e3 / (e3 + e4)
            w4 = e4 / (e3 + e4)
          }
          ll += weight * (a1 + a2 + l)
          gr += weight * (dgR[k] + logAlpha - w3 * logAT - w4 * logATx)
          gal += weight * (r / alpha - w3 * (r + xv) / (alpha + ts[i]) - (dropoutTerm ? w4 * (r + xv) / (alpha + txs[i]) : 0))
          ga += weight * (-dgAB[kb] + (dropoutTerm ? w4 / a : 0))
          gb += weight * (dgB[kb] - dgAB[kb] - (dropoutTerm ? w4 / bx : 0))
        }
        return SIMD8(ll, gr, gal, ga, gb, 0, 0, 0)
      }
      let (ll, gr, gal, ga, gb) = (sums[0], sums[1], sums[2], sums[3], sums[4])
      // Minimise the negative mean log-likelihood; chain rule for log-parameters.
      return (-ll / total, [-gr * r / total, -gal * alpha / total, -ga * a / total, -gb * b / total])
    }
    let result = minimizeBFGS(objective, start: startingPoint(start, scale: scale), inverseHessian: start?.fit.curvature)
    let p = result.point.map(exp)
    return PurchaseModelParameters(
      r: p[0], alpha: p[1] / scale, dropout: modified ? .mbgnbd(a: p[2], b: p[3]) : .bgnbd(a: p[2], b: p[3]),
      fit: ModelFit(result))
  }

  /// P(alive) of every row of a population grouped by (x, t_x, T) when the model's is
  /// costly (Pareto/NBD's integral) and worth taking row after row; nil otherwise.
  static func probabilitiesAlive(_ m: PurchaseModelParameters, distinct: DistinctCustomers) -> [Double]? {
    guard case .pareto(let s, let beta) = m.dropout, distinct.rowOfCustomer != nil else { return nil }
    return ParetoNBD.probabilitiesAlive(r: m.r, alpha: m.alpha, s: s, beta: beta, x: distinct.x, tx: distinct.tx, age: distinct.age)
  }

  /// Probability that a customer is still alive (has not churned) at the end of observation.
  public static func probabilityAlive(_ m: PurchaseModelParameters, x: Double, tx: Double, age: Double) -> Double {
    // BG/NBD's and MBG/NBD's odds of having dropped out grow with this ratio.
    func ratio() -> Double { exp((m.r + x) * (log(m.alpha + age) - log(m.alpha + tx))) }
    switch m.dropout {
    case .bgnbd(let a, let b):
      guard x > 0 else { return 1 }
      return 1 / (1 + a / (b + x - 1) * ratio())
    case .mbgnbd(let a, let b):
      return 1 / (1 + a / (b + x) * ratio())
    case .pareto(let s, let beta):
      return ParetoNBD.probabilityAlive(r: m.r, alpha: m.alpha, s: s, beta: beta, x: x, tx: tx, age: age)
    }
  }

  /// BG/NBD's and MBG/NBD's E[X(t) | x, t_x, T]: the one-horizon case of the curve below.
  static func expectedPurchasesBG(_ m: PurchaseModelParameters, a: Double, b: Double, t: Double, x: Double, tx: Double, age: Double) -> Double {
    guard t > 0 else { return 0 }
    return withUnsafeTemporaryAllocation(of: Double.self, capacity: 2) { scratch in
      scratch[0] = t
      let out = UnsafeMutableBufferPointer(rebasing: scratch[1..<2])
      expectedPurchasesBG(m, a: a, b: b, horizons: UnsafeBufferPointer(rebasing: scratch[0..<1]), x: x, tx: tx, age: age, into: out)
      return out[0]
    }
  }

  /// `expectedPurchasesBG` at every horizon of `horizons` (days, positive), into `out`,
  /// with the hypergeometric series summed together.
  static func expectedPurchasesBG(
    _ m: PurchaseModelParameters, a: Double, b: Double, horizons: UnsafeBufferPointer<Double>, x: Double, tx: Double, age: Double,
    into out: UnsafeMutableBufferPointer<Double>
  ) {
    if purchaseCurveBG(m, a: a, b: b, horizons: horizons, x: x, age: age, into: out) {
      expectedPurchasesBG(m, a: a, b: b, x: x, tx: tx, age: age, curve: UnsafeBufferPointer(out), into: out)
    } else {
      // Where the closed form does not hold, the expectation is bounded by the purchase
      // rate of a customer still alive times the horizon.
      let rate = probabilityAlive(m, x: x, tx: tx, age: age) * (m.r + x) / (m.alpha + age)
      for j in horizons.indices { out[j] = rate * horizons[j] }
    }
  }

  /// The part of `expectedPurchasesBG` at each of `horizons` that depends on x and T but
  /// not on t_x, 1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t)), into `curve`:
  /// customers who differ only in their last purchase share it (a million customers have
  /// about 400,000 distinct (x, t_x, T) but a few tens of thousands of (x, T)). False, and
  /// nothing written, where the closed form does not hold for this x.
  static func purchaseCurveBG(
    _ m: PurchaseModelParameters, a: Double, b: Double, horizons: UnsafeBufferPointer<Double>, x: Double, age: Double,
    into curve: UnsafeMutableBufferPointer<Double>
  ) -> Bool {
    let (r, alpha) = (m.r, m.alpha)
    // The closed form (Fader, Hardie & Lee 2005, eq. 10) holds for any a ≠ 1 as long as the
    // hypergeometric function's c = a + b + x − 1 is positive. MBG/NBD shifts b by one
    // purchase and keeps the dropout term for x = 0.
    let shift = m.model == .mbgnbd ? 1.0 : 0.0
    guard a + b + x - 1 + shift > 0, abs(a - 1) > 1e-9 else { return false }
    withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * horizons.count) { scratch in
      let z = UnsafeMutableBufferPointer(rebasing: scratch[0..<horizons.count])
      let terms = UnsafeMutableBufferPointer(rebasing: scratch[horizons.count...])
      for j in horizons.indices { z[j] = horizons[j] / (alpha + age + horizons[j]) }
      hypergeometric2F1(r + x, b + x + shift, a + b + x - 1 + shift, z: z, into: curve, terms: terms)
    }
    for j in horizons.indices {
      let t = horizons[j]
      curve[j] = 1 - pow((alpha + age) / (alpha + age + t), r + x) * curve[j]
    }
    return true
  }

  /// `expectedPurchasesBG` at each horizon of `curve`, the customer's `purchaseCurveBG`
  /// (of its x and T), into `out` (which may be `curve` itself).
  static func expectedPurchasesBG(
    _ m: PurchaseModelParameters, a: Double, b: Double, x: Double, tx: Double, age: Double, curve: UnsafeBufferPointer<Double>,
    into out: UnsafeMutableBufferPointer<Double>
  ) {
    let (r, alpha) = (m.r, m.alpha)
    let shift = m.model == .mbgnbd ? 1.0 : 0.0
    let first = (a + b + x - 1 + shift) / (a - 1)
    let dropout = x > 0 || m.model == .mbgnbd
    let denominator = 1 + (dropout ? a / (b + x - 1 + shift) * pow((alpha + age) / (alpha + tx), r + x) : 0)
    for j in curve.indices {
      let value = first * curve[j] / denominator
      out[j] = value.isFinite ? max(0, value) : 0
    }
  }

  // MARK: Gamma-Gamma

  /// Fits Gamma-Gamma on repeat customers (x > 0) by maximising the mean log-likelihood,
  /// the search starting from `start` when given (a fit on similar data), else from 1s.
  public static func fitGammaGamma(frequency: [Double], monetaryValue: [Double], from start: GammaGammaParameters? = nil) -> GammaGammaParameters {
    var x: [Double] = []
    var m: [Double] = []
    for i in frequency.indices where frequency[i] > 0 && monetaryValue[i] > 0 {
      x.append(frequency[i])
      m.append(monetaryValue[i])
    }
    guard !x.isEmpty else {
      return GammaGammaParameters(p: 1, q: 2, v: 1, fit: ModelFit(converged: false, iterations: 0, logLikelihood: 0, message: "no repeat customer: nothing to fit"))
    }
    let n = Double(x.count)
    let logM = concurrentArray(count: m.count) { log(m[$0]) }
    let logX = concurrentArray(count: x.count) { log(x[$0]) }
    // Repeat counts take few values: their gamma and digamma terms are taken once per value
    // and step, leaving one logarithm per customer.
    let counts = DistinctValues(x)
    func objective(_ theta: [Double]) -> (Double, [Double]) {
      let p = exp(theta[0]), q = exp(theta[1]), v = exp(theta[2])
      let lgq = logGamma(q), dq = digamma(q), logV = log(v)
      // ln Γ(px+q) − ln Γ(px), ψ(px+q), and ψ(px+q) − ψ(px), for each distinct x.
      var logGammaRatio = [Double](repeating: 0, count: counts.values.count)
      var digammaOfSum = logGammaRatio, digammaDifference = logGammaRatio
      for (k, value) in counts.values.enumerated() {
        let px = p * value
        let dpq = digamma(px + q)
        (logGammaRatio[k], digammaOfSum[k], digammaDifference[k]) = (logGamma(px + q) - logGamma(px), dpq, dpq - digamma(px))
      }
      let sums = blockSums(x.count) { block in
        let index = counts.index
        var ll = 0.0, gp = 0.0, gq = 0.0, gv = 0.0
        for i in block {
          let k = Int(index[i])
          let px = p * x[i]
          let denominator = x[i] * m[i] + v
          let logDen = log(denominator)
          ll += logGammaRatio[k] - lgq + q * logV + (px - 1) * logM[i] + px * logX[i] - (px + q) * logDen
          gp += x[i] * (digammaDifference[k] + logM[i] + logX[i] - logDen)
          gq += digammaOfSum[k] - dq + logV - logDen
          gv += q / v - (px + q) / denominator
        }
        return SIMD8(ll, gp, gq, gv, 0, 0, 0, 0)
      }
      let (ll, gp, gq, gv) = (sums[0], sums[1], sums[2], sums[3])
      return (-ll / n, [-gp * p / n, -gq * q / n, -gv * v / n])
    }
    var start = start
    if start == nil, let step = warmStartStride(x.count) {
      // As for the purchase models: most steps on an evenly spaced sample.
      let every = Swift.stride(from: 0, to: x.count, by: step)
      start = fitGammaGamma(frequency: every.map { x[$0] }, monetaryValue: every.map { m[$0] })
    }
    let origin = [log(1.0), log(1.0), log(1.0)]
    let warm = start.flatMap { clampedLogPoint([log($0.p), log($0.q), log($0.v)]) }
    let result = minimizeBFGS(objective, start: warm ?? origin, inverseHessian: warm == nil ? nil : start?.fit.curvature)
    let p = result.point.map(exp)
    return GammaGammaParameters(
      p: p[0], q: p[1], v: p[2],
      fit: ModelFit(result))
  }

  /// Expected mean order value of a customer given x repeat purchases of mean value m
  /// (the population mean p·v/(q − 1) when x = 0).
  public static func expectedAverageValue(_ g: GammaGammaParameters, x: Double, m: Double) -> Double {
    let value = g.p * (g.v + x * m) / (g.p * x + g.q - 1)
    return value.isFinite && value > 0 ? value : 0
  }

  /// Discounted lifetime value over the months of `discountFactors` (30 days each), as
  /// lifetimes' `customer_lifetime_value`: Σ_i (E[purchases by 30i] − E[purchases by
  /// 30(i−1)]) × expected value / (1 + rate)^i, from the customer's expected purchases by
  /// the end of each month (`CustomerOutlook.expectedPurchasesByMonth`) and the factors
  /// (1 + rate)^i of `discountFactors(months:monthlyDiscountRate:)`.
  /// `value` is the expected value of one purchase (`expectedAverageValue`).
  public static func lifetimeValue(purchasesByMonth: UnsafeBufferPointer<Double>, value: Double, discountFactors: [Double]) -> Double {
    var total = 0.0
    var previous = 0.0
    for i in discountFactors.indices {
      let purchases = purchasesByMonth[i]
      total += (purchases - previous) * value / discountFactors[i]
      previous = purchases
    }
    return total.isFinite ? total : 0
  }

  /// (1 + rate)^i for each month i of `lifetimeValue`'s horizon.
  public static func discountFactors(months: Int, monthlyDiscountRate: Double) -> [Double] {
    (1...max(1, months)).map { pow(1 + monthlyDiscountRate, Double($0)) }
  }
}

/// One customer under a fitted purchase model: P(alive), computed once, and the purchases
/// to expect over any horizon (Pareto/NBD's need nothing more; BG/NBD's take a ₂F₁ each).
public struct CustomerOutlook: Sendable {
  /// The model's parameters (its fit is not kept).
  public let model: PurchaseModelParameters
  public let x: Double
  public let tx: Double
  public let age: Double
  public let probabilityAlive: Double

  public init(_ model: PurchaseModelParameters, x: Double, tx: Double, age: Double) {
    self.init(model, x: x, tx: tx, age: age, probabilityAlive: LifetimeModels.probabilityAlive(model, x: x, tx: tx, age: age))
  }

  /// The outlook of a customer whose P(alive) is already known (taken for many at once).
  init(_ model: PurchaseModelParameters, x: Double, tx: Double, age: Double, probabilityAlive: Double) {
    // Only the parameters: the fit's message and curvature are reference-counted, and a
    // million outlooks copying them spent a tenth of an analysis retaining and releasing.
    self.model = PurchaseModelParameters(r: model.r, alpha: model.alpha, dropout: model.dropout, fit: .unreported)
    self.x = x
    self.tx = tx
    self.age = age
    self.probabilityAlive = probabilityAlive
  }

  /// Expected number of purchases in the next `t` days.
  public func expectedPurchases(_ t: Double) -> Double {
    switch model.dropout {
    case .bgnbd(let a, let b), .mbgnbd(let a, let b):
      LifetimeModels.expectedPurchasesBG(model, a: a, b: b, t: t, x: x, tx: tx, age: age)
    case .pareto(let s, let beta):
      ParetoNBD.expectedPurchases(alive: probabilityAlive, r: model.r, alpha: model.alpha, s: s, beta: beta, x: x, age: age, t: t)
    }
  }

  /// Expected purchases by the end of each of the next `months.count` months of 30 days:
  /// `months[i]` is `expectedPurchases(30 (i + 1))` to the bit, computed together (one
  /// hypergeometric series for all of BG/NBD's horizons instead of one each).
  public func expectedPurchasesByMonth(into months: UnsafeMutableBufferPointer<Double>) {
    switch model.dropout {
    case .bgnbd(let a, let b), .mbgnbd(let a, let b):
      withUnsafeTemporaryAllocation(of: Double.self, capacity: months.count) { horizons in
        for i in horizons.indices { horizons[i] = Double(30 * (i + 1)) }
        LifetimeModels.expectedPurchasesBG(model, a: a, b: b, horizons: UnsafeBufferPointer(horizons), x: x, tx: tx, age: age, into: months)
      }
    case .pareto:
      for i in months.indices { months[i] = expectedPurchases(Double(30 * (i + 1))) }
    }
  }
}

/// Result of `minimizeBFGS`.
struct MinimizeResult {
  var point: [Double]
  var value: Double
  var iterations: Int
  var converged: Bool
  var message: String
  /// The inverse-Hessian estimate at `point`.
  var inverseHessian: [[Double]]? = nil
}

/// Quasi-Newton minimisation (BFGS with a backtracking Armijo line search) of a smooth
/// function given with its gradient, within the box `LifetimeModels.logBounds`. A
/// coordinate held at a bound by a gradient pushing outward leaves the search (projected
/// gradient), so a likelihood whose optimum lies at infinity — a homogeneous population
/// sends r and α there together — converges at the bound instead of crawling along it.
/// `inverseHessian`, when given (from a search on similar data), replaces the identity as
/// the first curvature estimate.
func minimizeBFGS(
  _ f: ([Double]) -> (Double, [Double]), start: [Double], inverseHessian: [[Double]]? = nil, maxIterations: Int = 1000, gradientTolerance: Double = 1e-9
) -> MinimizeResult {
  let n = start.count
  let (lower, upper) = (LifetimeModels.logBounds.lowerBound, LifetimeModels.logBounds.upperBound)
  var x = start
  var (fx, g) = f(x)
  let identity = (0..<n).map { i in (0..<n).map { j in i == j ? 1.0 : 0.0 } }
  let usable = inverseHessian.map { m in m.count == n && m.allSatisfy { $0.count == n && $0.allSatisfy(\.isFinite) } } ?? false
  var h = usable ? inverseHessian! : identity
  var iterations = 0
  func clamp(_ v: [Double]) -> [Double] { v.map { min(max($0, lower), upper) } }
  func held(_ x: [Double], _ g: [Double]) -> [Bool] { (0..<n).map { (x[$0] <= lower && g[$0] > 0) || (x[$0] >= upper && g[$0] < 0) } }
  var active = held(x, g)
  // The gradient without the coordinates held at a bound, and its norm.
  func freeGradient() -> (free: [Double], norm: Double) {
    let free = (0..<n).map { active[$0] ? 0 : g[$0] }
    return (free, free.map { $0 * $0 }.reduce(0, +).squareRoot())
  }
  while iterations < maxIterations {
    iterations += 1
    let (free, gradNorm) = freeGradient()
    let atBound = active.contains(true)
    if gradNorm < gradientTolerance {
      return MinimizeResult(
        point: x, value: fx, iterations: iterations, converged: true, message: atBound ? "gradient below tolerance, at a bound" : "gradient below tolerance", inverseHessian: h)
    }
    var direction = (0..<n).map { i in active[i] ? 0 : -(0..<n).map { j in h[i][j] * free[j] }.reduce(0, +) }
    var slope = zip(direction, free).map(*).reduce(0, +)
    if slope >= 0 {
      // Not a descent direction: restart from steepest descent.
      h = identity
      direction = free.map { -$0 }
      slope = -gradNorm * gradNorm
    }
    // A step gains at most about half the slope (the whole step to a quadratic's minimum).
    // Below the rounding of f no evaluation can tell a gain from none, and each evaluation
    // of a large population's likelihood costs a pass over it.
    let resolution = 1e-14 * max(1, abs(fx))
    // Even the whole step gains less than that: converged, as after a step that gains
    // nothing (below), without the pass over the population that would only show it.
    if -slope < resolution && gradNorm < 1e-5 {
      return MinimizeResult(
        point: x, value: fx, iterations: iterations, converged: true, message: atBound ? "no further improvement, at a bound" : "no further improvement", inverseHessian: h)
    }
    var step = 1.0
    var accepted: ([Double], Double, [Double])?
    for _ in 0..<60 {
      let candidate = clamp(zip(x, direction).map { $0 + step * $1 })
      let (fc, gc) = f(candidate)
      if fc.isFinite && fc <= fx + 1e-4 * step * slope {
        accepted = (candidate, fc, gc)
        break
      }
      step *= 0.5
      if -step * slope < resolution { break }
    }
    guard let (xNew, fNew, gNew) = accepted else {
      return MinimizeResult(point: x, value: fx, iterations: iterations, converged: gradNorm < 1e-6, message: "line search could not improve further", inverseHessian: h)
    }
    let s = zip(xNew, x).map(-)
    let y = zip(gNew, g).map(-)
    let sy = zip(s, y).map(*).reduce(0, +)
    let improvement = fx - fNew
    x = xNew
    fx = fNew
    g = gNew
    let nowActive = held(x, g)
    if nowActive != active {
      // Another face of the box: the curvature learnt on the last one no longer applies.
      active = nowActive
      h = identity
    } else if sy > 1e-12 {
      // BFGS update of the inverse Hessian.
      let hy = (0..<n).map { i in (0..<n).map { j in h[i][j] * y[j] }.reduce(0, +) }
      let yhy = zip(y, hy).map(*).reduce(0, +)
      for i in 0..<n {
        for j in 0..<n {
          h[i][j] += (sy + yhy) * s[i] * s[j] / (sy * sy) - (hy[i] * s[j] + s[i] * hy[j]) / sy
        }
      }
    }
    // Converged when a step gains nothing the arithmetic can tell (a flat ridge's steps gain
    // rounding only) and the free gradient is below SciPy's default tolerance.
    if improvement >= 0 && improvement < 1e-14 * max(1, abs(fx)) && freeGradient().norm < 1e-5 {
      return MinimizeResult(
        point: x, value: fx, iterations: iterations, converged: true, message: active.contains(true) ? "no further improvement, at a bound" : "no further improvement", inverseHessian: h)
    }
  }
  return MinimizeResult(point: x, value: fx, iterations: iterations, converged: false, message: "iteration limit reached", inverseHessian: h)
}

/// The distinct values of an array, in order of first appearance, and each element's
/// position among them: for terms that depend on the value alone, taken once per value.
struct DistinctValues {
  var values: [Double] = []
  var index: [Int32]

  init(_ elements: [Double]) {
    let n = elements.count
    // Counts are whole and small: an array finds each one's position, else a dictionary.
    // Slices on every core: whether they are, then where each value first appears, then each
    // element's position (hundreds of thousands of rows, several times per analysis, were
    // passes on one core beside an idle one).
    let slices = sliceCount(n)
    func slice(_ s: Int) -> Range<Int> { sliceRange(s, of: slices, count: n) }
    let (largest, whole) = elements.withUnsafeBufferPointer { elements in
      blockTotals(n, blockSize: max(1, (n + slices - 1) / slices), zero: (0.0, true)) { block in
        var (largest, whole) = (0.0, true)
        for i in block {
          let value = elements[i]
          largest = max(largest, value)
          whole = whole && value >= 0 && value.rounded() == value
        }
        return (largest, whole)
      } adding: { $0 = (max($0.0, $1.0), $0.1 && $1.1) }
    }
    guard whole, largest < 65_536 else {
      index = [Int32](repeating: 0, count: n)
      var position: [Double: Int32] = [:]
      for (i, value) in elements.enumerated() {
        let next = Int32(values.count)
        let found = position[value, default: next]
        if found == next {
          position[value] = next
          values.append(value)
        }
        index[i] = found
      }
      return
    }
    let size = Int(largest) + 1
    // Per slice, each value's first element (n where it has none); the earliest over the
    // slices is the value's first appearance, and the values are numbered in that order.
    var firsts = [[Int]](repeating: [], count: slices)
    elements.withUnsafeBufferPointer { elements in
      firsts.withUnsafeMutableBufferPointer { firsts in
        concurrentChunks(slices) { s in
          var first = [Int](repeating: n, count: size)
          for i in slice(s).reversed() { first[Int(elements[i])] = i }
          firsts[s] = first
        }
      }
    }
    var appearances: [(first: Int, value: Int)] = []
    for value in 0..<size {
      let first = firsts.lazy.map { $0[value] }.min() ?? n
      if first < n { appearances.append((first, value)) }
    }
    appearances.sort { $0.first < $1.first }
    var position = [Int32](repeating: -1, count: size)
    for (k, appearance) in appearances.enumerated() { position[appearance.value] = Int32(k) }
    values = appearances.map { elements[$0.first] }
    index = elements.withUnsafeBufferPointer { elements in
      concurrentArray(count: n) { position[Int(elements[$0])] }
    }
  }
}

extension DistinctValues {
  /// The same positions, each value times `factor`: equal to the element times `factor`,
  /// the same multiplication.
  func scaled(by factor: Double) -> DistinctValues {
    var copy = self
    copy.values = values.map { $0 * factor }
    return copy
  }
}

/// ln Γ(x) for x > 0.
@inline(__always)
func logGamma(_ x: Double) -> Double {
  let value: Double = lgamma(x)
  return value
}
