import Foundation

/// Pareto/NBD (Schmittlein, Morrison & Colombo 1987): purchases at a gamma-distributed
/// Poisson rate λ ~ Γ(r, α) while alive, and an exponential lifetime of gamma-distributed
/// rate μ ~ Γ(s, β), so a customer may leave at any moment, not only after a purchase.
///
/// The likelihood of a customer with x repeat purchases, the last at t_x, observed for T
/// (Fader & Hardie 2005, "A Note on Deriving the Pareto/NBD Model", eq. 11 before the
/// hypergeometric closed form) is
///
///   Γ(r+x) αʳ βˢ / Γ(r) × [ (α+T)^−(r+x) (β+T)^−s + s ∫_{t_x}^{T} (α+τ)^−(r+x) (β+τ)^−(s+1) dτ ].
///
/// lifetimes evaluates the integral through ₂F₁(r+s+x, ·; r+s+x+1; z), whose series crawls
/// when z nears 1; here the integral is taken by quadrature instead, which also gives the
/// gradient: each parameter's derivative is the same integral with one more factor.
enum ParetoNBD {
  /// A Gauss–Legendre rule on [−1, 1] of `count` points (at most 16), held in vectors:
  /// read for every customer at every step of a fit, where arrays would be retained and
  /// released on each call.
  struct Rule {
    var count: Int
    var nodes = SIMD16<Double>.zero
    var weights = SIMD16<Double>.zero

    init(points: Int) {
      count = points
      let rule = legendreRule(points: points)
      for k in 0..<points { (nodes[k], weights[k]) = (rule.nodes[k], rule.weights[k]) }
    }
  }

  /// The rules of 4, 6, 8 and 12 points. A panel as wide as the integrand allows takes 12
  /// points for double precision; one a small fraction of that width (most of the short
  /// integrals between two customers' T) needs fewer: by the error of an n-point rule,
  /// which falls as (width)^(2n), 4 points are as exact up to 3 % of the allowed width,
  /// 6 up to 10 %, 8 up to 30 % (chosen against panels split six times finer on 1.5 million
  /// random cases; a test holds them to 12 points on every panel).
  static let rules = (four: Rule(points: 4), six: Rule(points: 6), eight: Rule(points: 8), twelve: Rule(points: 12))

  /// The rule for a panel `fraction` of the width the integrand allows.
  @inline(__always)
  static func rule(forFraction fraction: Double, of rules: (four: Rule, six: Rule, eight: Rule, twelve: Rule)) -> Rule {
    fraction <= 0.03 ? rules.four : fraction <= 0.1 ? rules.six : fraction <= 0.3 ? rules.eight : rules.twelve
  }

  /// The integral I = ∫_{t_x}^{T} (α+τ)^−p (β+τ)^−q dτ and, on the same nodes, the integrals
  /// of the integrand times ln((α+τ)/(α+t_x)), τ/(α+τ), ln((β+τ)/(β+t_x)) and τ/(β+τ) (the
  /// parameters' derivatives, written so that nothing cancels when r or s is huge); all
  /// divided by (α+t_x)^−p (β+t_x)^−q (γ+T), a bound of the integrand in v, so that neither
  /// a large x nor a tiny α overflows.
  struct Integrals {
    var value = 0.0
    var logAlpha = 0.0
    var shareAlpha = 0.0
    var logBeta = 0.0
    var shareBeta = 0.0

    /// Adds `other` times `factor` to each integral.
    mutating func add(_ other: Integrals, times factor: Double) {
      value += other.value * factor
      logAlpha += other.logAlpha * factor
      shareAlpha += other.shareAlpha * factor
      logBeta += other.logBeta * factor
      shareBeta += other.shareBeta * factor
    }
  }

  /// Takes the integrals in v = ln(γ+τ), γ = min(α, β): there the integrand
  /// g(v) = e^v (α+τ)^−p (β+τ)^−q is log-concave and analytic within π of the real axis.
  /// Each Gauss–Legendre panel is at most 2 wide and narrow enough that ln g changes by
  /// about 2 across it and bends little (its slope and curvature at both ends decide), which
  /// gives double precision with 12 nodes; past the peak, a log-concave integrand's tail is
  /// at most its value over |slope|, and the panels stop once that is negligible. τ − t_x
  /// and the logarithms' differences come from expm1 and log1p: with r near 10⁶, p·ln(α+τ)
  /// is 10⁷ and would leave its rounding in every digit that matters.
  static func integrals(alpha: Double, beta: Double, p: Double, q: Double, from tx: Double, to age: Double, gradient: Bool, logBase: Double? = nil) -> Integrals {
    integrals(alpha: alpha, beta: beta, p: p, q: q, reference: tx, from: tx, to: age, gradient: gradient, logBase: logBase)
  }

  /// The integrals over [`lower`, `age`] only, in the scale and with the logarithms of
  /// the customer whose last purchase is at `tx` (`reference` ≤ `lower`): added to the
  /// integrals up to `lower` (rescaled by (γ+lower)/(γ+age)), they make those up to `age`.
  /// `fewerPoints: false` takes 12 points on every panel (to check the narrower rules).
  /// `logBase`, ln(γ+t_x), when the caller has it.
  static func integrals(
    alpha: Double, beta: Double, p: Double, q: Double, reference tx: Double, from lower: Double, to age: Double, gradient: Bool,
    fewerPoints: Bool = true, logBase: Double? = nil
  ) -> Integrals {
    var result = Integrals()
    let gamma = min(alpha, beta)
    let offsetA = alpha - gamma, offsetB = beta - gamma
    let base = gamma + tx
    // u = v − v0 runs to ln((γ+T)/(γ+t_x)), taken by log1p: when γ dwarfs T − t_x, the
    // difference of the two logarithms would keep only a few digits of it.
    let v0 = logBase ?? log(base)
    let end = log1p((age - tx) / base)
    guard age > lower, end > 0 else { return result }
    let fromTop = -end
    // Slope and curvature of ln g at v.
    func shape(_ v: Double) -> (slope: Double, curvature: Double) {
      let ev = exp(v)
      let fa = ev / (offsetA + ev), fb = ev / (offsetB + ev)
      return (1 - p * fa - q * fb, p * fa * (1 - fa) + q * fb * (1 - fb))
    }
    func width(_ s: (slope: Double, curvature: Double)) -> Double {
      // The curvature may grow e²-fold across a panel of width 2: allow for it.
      min(2, 2 / max(1, abs(s.slope), (7.4 * s.curvature).squareRoot()))
    }
    // ln g(v) − ln bound, with u = v − v0; τ; and ln((α+τ)/(α+t_x)), ln((β+τ)/(β+t_x)).
    func logIntegrand(_ u: Double) -> (Double, tau: Double, logA: Double, logB: Double) {
      let grown = base * expm1(u)
      // The smaller rate's factor is e^u itself: one log1p fewer.
      let logA = offsetA == 0 ? u : log1p(grown / (alpha + tx))
      let logB = offsetB == 0 ? u : log1p(grown / (beta + tx))
      return (u + fromTop - p * logA - q * logB, tx + grown, logA, logB)
    }
    // Past the peak (negative slope), a bound of the integrals beyond u, even times the
    // gradient's factors: a log-concave integrand's tail is at most its value over |slope|.
    // Infinite before the peak. `here` is the shape at u.
    func tailBound(_ u: Double, _ here: (slope: Double, curvature: Double)) -> Double {
      guard here.slope < 0 else { return .infinity }
      let (logG, _, logA, logB) = logIntegrand(u)
      return exp(logG) / -here.slope * (2 + logA + logB)
    }
    let rules = Self.rules
    var start = lower == tx ? 0.0 : log1p((lower - tx) / base)
    // The shape at `start`: the tail's bound after a panel and the next panel's width both need it.
    var here = shape(v0 + start)
    var panels = 0
    while start < end && panels < 100_000 {
      panels += 1
      let widthHere = width(here)
      var step = min(widthHere, end - start)
      let allowed = min(widthHere, width(shape(v0 + start + step)))
      step = min(step, allowed)
      let rule = fewerPoints ? Self.rule(forFraction: step / allowed, of: rules) : rules.twelve
      let (nodes, weights) = (rule.nodes, rule.weights)
      let half = step / 2, middle = start + half
      for k in 0..<rule.count {
        let (logG, tau, logA, logB) = logIntegrand(middle + half * nodes[k])
        let g = weights[k] * half * exp(logG)
        result.value += g
        if gradient {
          result.logAlpha += g * logA
          result.shareAlpha += g * (tau / (alpha + tau))
          result.logBeta += g * logB
          result.shareBeta += g * (tau / (beta + tau))
        }
      }
      start += step
      guard start < end else { break }
      here = shape(v0 + start)
      if tailBound(start, here) < 1e-17 * result.value { break }
    }
    return result
  }

  /// The integrals up to `age` of a customer whose row follows, in a run of equal x and t_x,
  /// one observed to `previousAge` with integrals `before`: those rescaled to this
  /// customer's bound, plus the part between the two T — all positive terms, so nothing
  /// cancels. The part is taken once for every run that has it (`part`: its integrals from
  /// `previousAge`, in that point's scale, as `integrals(from: previousAge, to: age)` gives
  /// them) and moved here to the scale of the customer's own t_x: one exp and two log1p,
  /// where a panel of the quadrature takes a dozen of each. The factors of the move are
  /// ln((α+T₀)/(α+t_x)) and ln((β+T₀)/(β+t_x)), both ≥ 0: again nothing cancels.
  @inline(__always)
  static func continued(
    _ before: Integrals, part: Integrals, alpha: Double, beta: Double, p: Double, q: Double, tx: Double, from previousAge: Double, to age: Double
  ) -> Integrals {
    let gamma = min(alpha, beta)
    let rescale = (gamma + previousAge) / (gamma + age)
    let moveA = log1p((previousAge - tx) / (alpha + tx))
    let moveB = log1p((previousAge - tx) / (beta + tx))
    let factor = exp(-p * moveA - q * moveB)
    var ints = Integrals(
      value: factor * part.value, logAlpha: factor * (part.logAlpha + moveA * part.value), shareAlpha: factor * part.shareAlpha,
      logBeta: factor * (part.logBeta + moveB * part.value), shareBeta: factor * part.shareBeta)
    ints.add(before, times: rescale)
    return ints
  }

  /// The parts between consecutive T of the runs of `d` (`Sample.parts`), at these
  /// parameters, on every core: about a fifth as many as the rows that continue a run,
  /// since many runs of one x step between the same two days.
  static func parts(_ d: Sample, r: Double, alpha: Double, s: Double, beta: Double) -> [Integrals] {
    parts(d.parts, r: r, alpha: alpha, s: s, beta: beta, gradient: true)
  }

  /// The integrals of `parts` (x, from, to), without the gradient's when `gradient` is false.
  static func parts(_ parts: (x: [Double], from: [Double], to: [Double]), r: Double, alpha: Double, s: Double, beta: Double, gradient: Bool) -> [Integrals] {
    concurrentArray(count: parts.x.count, threadsFrom: 2048) { k in
      integrals(alpha: alpha, beta: beta, p: r + parts.x[k], q: s + 1, from: parts.from[k], to: parts.to[k], gradient: gradient)
    }
  }

  /// One customer's likelihood, less ln Γ(r+x) − ln Γ(r): the two terms of
  /// αʳ βˢ [(α+T)^−(r+x) (β+T)^−s + s I] as e·e^top and s·k·e^top·I', with top the larger
  /// logarithm, I' the scaled integral, and the logarithms taken without cancellation.
  struct Terms {
    var top: Double
    var e: Double
    var k: Double
    var integrals: Integrals
    var bracket: Double { e + s * k * integrals.value }
    var s: Double
    /// ln(1+T/α), ln(1+t_x/α), ln(1+T/β), ln(1+t_x/β): the gradient needs them again.
    var logAgeAlpha: Double
    var logTxAlpha: Double
    var logAgeBeta: Double
    var logTxBeta: Double
  }

  static func terms(r: Double, alpha: Double, s: Double, beta: Double, x: Double, tx: Double, age: Double, gradient: Bool) -> Terms {
    terms(
      r: r, alpha: alpha, s: s, beta: beta, x: x, tx: tx, age: age,
      integrals: integrals(alpha: alpha, beta: beta, p: r + x, q: s + 1, from: tx, to: age, gradient: gradient))
  }

  /// `terms` with the integrals already taken.
  static func terms(r: Double, alpha: Double, s: Double, beta: Double, x: Double, tx: Double, age: Double, integrals ints: Integrals) -> Terms {
    terms(r: r, s: s, x: x, age: AgeLogs(alpha: alpha, beta: beta, age: age), tx: LastPurchaseLogs(alpha: alpha, beta: beta, tx: tx), integrals: ints)
  }

  /// The logarithms of T that `terms` takes: they depend on T, α and β alone, so a fit
  /// takes them once per distinct T and step.
  struct AgeLogs {
    /// ln(1+T/α), ln(1+T/β), ln(α+T), ln(γ+T) with γ = min(α, β).
    var alpha, beta, alphaPlus, gammaPlus: Double

    init(alpha a: Double, beta b: Double, age: Double) {
      (alpha, beta, alphaPlus, gammaPlus) = (log1p(age / a), log1p(age / b), log(a + age), log(min(a, b) + age))
    }
  }

  /// The logarithms of t_x that `terms` and the integrals take, once per distinct t_x in a fit.
  struct LastPurchaseLogs {
    /// ln(1+t_x/α), ln(1+t_x/β), ln(α+t_x), ln(β+t_x), ln(γ+t_x).
    var alpha, beta, alphaPlus, betaPlus, gammaPlus: Double

    init(alpha a: Double, beta b: Double, tx: Double) {
      (alpha, beta, alphaPlus, betaPlus, gammaPlus) = (log1p(tx / a), log1p(tx / b), log(a + tx), log(b + tx), log(min(a, b) + tx))
    }
  }

  /// `terms` from the logarithms of T and t_x.
  static func terms(r: Double, s: Double, x: Double, age: AgeLogs, tx: LastPurchaseLogs, integrals ints: Integrals) -> Terms {
    // r ln α − (r+x) ln(α+T) = −r ln(1+T/α) − x ln(α+T), and the like.
    let logE = -r * age.alpha - x * age.alphaPlus - s * age.beta
    let logF = -r * tx.alpha - x * tx.alphaPlus - s * tx.beta - tx.betaPlus + age.gammaPlus
    let top = max(logE, logF)
    return Terms(
      top: top, e: exp(logE - top), k: exp(logF - top), integrals: ints, s: s, logAgeAlpha: age.alpha, logTxAlpha: tx.alpha, logAgeBeta: age.beta,
      logTxBeta: tx.beta)
  }

  /// Distinct customers in scaled time (T ≤ 1, as lifetimes scales it), for a
  /// well-conditioned search.
  struct Sample {
    var x: [Double]
    var xIndex: [Int]
    var tx: [Double]
    var age: [Double]
    var weight: [Double]
    var total: Double
    var scale: Double
    /// The distinct scaled T and t_x, and each row's among them.
    var ages: DistinctValues
    var lastPurchases: DistinctValues
    /// The rows the objective sums in one block (its integrals continue along a run only
    /// within a block).
    static let blockSize = 2048
    /// The distinct (x, previous T, T) of the rows that continue a run within their block:
    /// the parts of their integrals between the two T, taken once per step for all of them.
    var parts: (x: [Double], from: [Double], to: [Double])
    /// Each row's part among `parts`, −1 for a row that starts a run (or a block).
    var partOfRow: [Int32]

    init(_ s: RepeatSummary) { self.init(DistinctCustomers(s)) }

    init(_ s: DistinctCustomers) {
      let (x, tx, age, weight) = (s.x, s.tx, s.age, s.weight)
      let scale = 1 / max(age.max() ?? 1, 1)
      self.scale = scale
      self.x = x
      // Hundreds of thousands of rows: on every core.
      xIndex = concurrentArray(count: x.count) { Int(x[$0]) }
      self.tx = concurrentArray(count: tx.count) { tx[$0] * scale }
      self.age = concurrentArray(count: age.count) { age[$0] * scale }
      self.weight = weight
      total = weight.reduce(0, +)
      // A day's scaled value is the same number whichever row it comes from: the distinct
      // days are the distinct scaled values.
      ages = DistinctValues(age).scaled(by: scale)
      lastPurchases = DistinctValues(tx).scaled(by: scale)
      (parts, partOfRow) = Self.parts(x: self.x, tx: self.tx, age: self.age, ageIndex: ages.index, blockSize: Self.blockSize)
    }

    /// `parts` and `partOfRow` of rows in (x, t_x, T) order, continued in blocks of `blockSize`.
    static func parts(
      x: [Double], tx: [Double], age: [Double], ageIndex: [Int32], blockSize: Int
    ) -> (parts: (x: [Double], from: [Double], to: [Double]), partOfRow: [Int32]) {
      struct Key: Hashable {
        var x: Double
        var from: Int32
        var to: Int32
      }
      var parts: (x: [Double], from: [Double], to: [Double]) = ([], [], [])
      var partOfRow = [Int32](repeating: -1, count: x.count)
      // Rows come by x: with T in whole days (a few hundred distinct), one x's parts are
      // found in a square table of (previous T, T), cleared where it was written when x
      // changes; else in a dictionary. The table was a tenth of the dictionary's time.
      let ages = Int(ageIndex.max() ?? 0) + 1
      var square = ages <= 1024 ? [Int32](repeating: -1, count: ages * ages) : []
      var written: [Int] = []
      var squareX = Double.nan
      var found: [Key: Int32] = [:]
      for i in x.indices where i % blockSize != 0 && x[i] == x[i - 1] && tx[i] == tx[i - 1] {
        let next = Int32(parts.x.count)
        var part: Int32
        if square.isEmpty {
          let key = Key(x: x[i], from: ageIndex[i - 1], to: ageIndex[i])
          part = found[key, default: next]
          if part == next { found[key] = next }
        } else {
          if x[i] != squareX {
            for cell in written { square[cell] = -1 }
            written.removeAll(keepingCapacity: true)
            squareX = x[i]
          }
          let cell = Int(ageIndex[i - 1]) * ages + Int(ageIndex[i])
          part = square[cell]
          if part < 0 {
            (square[cell], part) = (next, next)
            written.append(cell)
          }
        }
        if part == next {
          parts.x.append(x[i])
          parts.from.append(age[i - 1])
          parts.to.append(age[i])
        }
        partOfRow[i] = part
      }
      return (parts, partOfRow)
    }
  }

  /// Minus the mean log-likelihood at θ = (ln r, ln α, ln s, ln β), in scaled time, and its
  /// gradient in θ.
  static func objective(_ theta: [Double], _ d: Sample) -> (Double, [Double]) {
    let r = exp(theta[0]), alpha = exp(theta[1]), s = exp(theta[2]), beta = exp(theta[3])
    // ln Γ(r+x) − ln Γ(r) and ψ(r+x) − ψ(r) for every x seen.
    let (lgR, dgR) = LifetimeModels.gammaRatios(r, upTo: d.xIndex.max() ?? 0)
    // The logarithms of each distinct T and t_x, once a step: as many as the distinct days,
    // where the rows are hundreds of thousands.
    let ageLogs = d.ages.values.map { AgeLogs(alpha: alpha, beta: beta, age: $0) }
    let txLogs = d.lastPurchases.values.map { LastPurchaseLogs(alpha: alpha, beta: beta, tx: $0) }
    let parts = Self.parts(d, r: r, alpha: alpha, s: s, beta: beta)
    let total = blockSums(d.x.count, blockSize: Sample.blockSize) { block in
      // The arrays taken once a block: read through the captured sample, each access may
      // retain and release its buffer.
      let (xs, weights, ages, txs, xIndex) = (d.x, d.weight, d.age, d.tx, d.xIndex)
      let (ageIndex, txIndex, partOfRow) = (d.ages.index, d.lastPurchases.index, d.partOfRow)
      var ll = 0.0, gr = 0.0, gal = 0.0, gs = 0.0, gb = 0.0
      // Customers come sorted by (x, t_x, T): along a run of equal x and t_x, each one's
      // integral is the previous one's, rescaled, plus the part between the two T — all
      // positive terms, so nothing cancels, and a part taken once for every run that has it.
      var previous = Integrals()
      for i in block {
        let x = xs[i], weight = weights[i], age = ages[i], tx = txs[i]
        let txLog = txLogs[Int(txIndex[i])]
        var ints: Integrals
        let part = Int(partOfRow[i])
        if part >= 0 {
          ints = continued(previous, part: parts[part], alpha: alpha, beta: beta, p: r + x, q: s + 1, tx: tx, from: ages[i - 1], to: age)
        } else {
          ints = integrals(alpha: alpha, beta: beta, p: r + x, q: s + 1, from: tx, to: age, gradient: true, logBase: txLog.gammaPlus)
        }
        previous = ints
        let t = terms(r: r, s: s, x: x, age: ageLogs[Int(ageIndex[i])], tx: txLog, integrals: ints)
        let (e, k, bracket) = (t.e, t.k, t.bracket)
        ll += weight * (lgR[xIndex[i]] + t.top + log(bracket))
        // Derivatives times the parameter (θ = ln parameter), each reduced so that no two
        // large terms cancel; ln(1+τ/α) = ln((α+τ)/(α+t_x)) + ln(1+t_x/α).
        let logAlpha = ints.logAlpha + ints.value * t.logTxAlpha
        let logBeta = ints.logBeta + ints.value * t.logTxBeta
        gr += weight * r * (dgR[xIndex[i]] - (e * t.logAgeAlpha + s * k * logAlpha) / bracket)
        gal += weight * ((r + x) * (e * age / (alpha + age) + s * k * ints.shareAlpha) / bracket - x)
        gs += weight * s * (k * ints.value - e * t.logAgeBeta - s * k * logBeta) / bracket
        gb += weight * (s * e * age / (beta + age) + (s + 1) * s * k * ints.shareBeta - s * k * ints.value) / bracket
      }
      return SIMD8(ll, gr, gal, gs, gb, 0, 0, 0)
    }
    let (ll, gr, gal, gs, gb) = (total[0], total[1], total[2], total[3], total[4])
    let n = d.total
    return (-ll / n, [-gr / n, -gal / n, -gs / n, -gb / n])
  }

  /// Fits Pareto/NBD by maximising the mean log-likelihood (BFGS on log-parameters with the
  /// analytic gradient), customers with identical (x, t_x, T) counted once, weighted.
  static func fit(_ s: DistinctCustomers, from start: PurchaseModelParameters? = nil) -> PurchaseModelParameters {
    let sample = Sample(s)
    let result = minimizeBFGS({ objective($0, sample) }, start: LifetimeModels.startingPoint(start, scale: sample.scale), inverseHessian: start?.fit.curvature)
    let p = result.point.map(exp)
    return PurchaseModelParameters(
      r: p[0], alpha: p[1] / sample.scale, dropout: .pareto(s: p[2], beta: p[3] / sample.scale),
      fit: ModelFit(result))
  }

  /// P(alive at T | x, t_x, T) = (α+T)^−(r+x) (β+T)^−s / [that + s I].
  static func probabilityAlive(r: Double, alpha: Double, s: Double, beta: Double, x: Double, tx: Double, age: Double) -> Double {
    let t = terms(r: r, alpha: alpha, s: s, beta: beta, x: x, tx: tx, age: age, gradient: false)
    return t.e / t.bracket
  }

  /// P(alive) of every row of `x`, `tx`, `age` (rows in (x, t_x, T) order, as
  /// `DistinctCustomers` leaves them), on every core in blocks of 4096 rows. Along a run of
  /// equal x and t_x, each row's integral is the previous one's, rescaled, plus the part
  /// between the two T, as in the fit: a part taken once for every run that has it.
  static func probabilitiesAlive(r: Double, alpha: Double, s: Double, beta: Double, x: [Double], tx: [Double], age: [Double]) -> [Double] {
    let rows = x.count
    let blockSize = 4096
    let (partsOf, partOfRow) = Sample.parts(x: x, tx: tx, age: age, ageIndex: DistinctValues(age).index, blockSize: blockSize)
    let parts = parts(partsOf, r: r, alpha: alpha, s: s, beta: beta, gradient: false)
    var alive = [Double](repeating: 0, count: rows)
    x.withUnsafeBufferPointer { x in
      tx.withUnsafeBufferPointer { tx in
        age.withUnsafeBufferPointer { age in
          alive.withUnsafeMutableBufferPointer { alive in
            nonisolated(unsafe) let alive = alive
            concurrentChunks((rows + blockSize - 1) / blockSize) { block in
              var previous = Integrals()
              for i in block * blockSize..<min(rows, (block + 1) * blockSize) {
                var ints: Integrals
                let part = Int(partOfRow[i])
                if part >= 0 {
                  ints = continued(previous, part: parts[part], alpha: alpha, beta: beta, p: r + x[i], q: s + 1, tx: tx[i], from: age[i - 1], to: age[i])
                } else {
                  ints = integrals(alpha: alpha, beta: beta, p: r + x[i], q: s + 1, from: tx[i], to: age[i], gradient: false)
                }
                previous = ints
                let t = terms(r: r, alpha: alpha, s: s, beta: beta, x: x[i], tx: tx[i], age: age[i], integrals: ints)
                alive[i] = t.e / t.bracket
              }
            }
          }
        }
      }
    }
    return alive
  }

  /// E[purchases in (T, T+t] | x, t_x, T] = P(alive) (r+x)(β+T) / ((α+T)(s−1)) ×
  /// [1 − ((β+T)/(β+T+t))^(s−1)] (Fader & Hardie 2005, eq. 41), its s → 1 limit a logarithm.
  static func expectedPurchases(alive: Double, r: Double, alpha: Double, s: Double, beta: Double, x: Double, age: Double, t: Double) -> Double {
    guard t > 0 else { return 0 }
    let logRatio = log((beta + age) / (beta + age + t))
    let survival = abs(s - 1) < 1e-10 ? -logRatio : -expm1((s - 1) * logRatio) / (s - 1)
    let value = alive * (r + x) / (alpha + age) * (beta + age) * survival
    return value.isFinite ? max(0, value) : 0
  }
}

/// Gauss–Legendre nodes and weights on [−1, 1] (Newton's method on Pₙ from the usual
/// Chebyshev-like guesses).
func legendreRule(points n: Int) -> (nodes: [Double], weights: [Double]) {
  var nodes = [Double](repeating: 0, count: n), weights = nodes
  for i in 0..<n {
    var z = cos(Double.pi * (Double(i) + 0.75) / (Double(n) + 0.5))
    var derivative = 0.0
    for _ in 0..<100 {
      var p0 = 1.0, p1 = 0.0
      for j in 1...n {
        let p2 = p1
        p1 = p0
        p0 = ((2 * Double(j) - 1) * z * p1 - (Double(j) - 1) * p2) / Double(j)
      }
      derivative = Double(n) * (z * p0 - p1) / (z * z - 1)
      let previous = z
      z = previous - p0 / derivative
      if abs(z - previous) < 1e-15 { break }
    }
    nodes[i] = z
    weights[i] = 2 / ((1 - z * z) * derivative * derivative)
  }
  return (nodes, weights)
}
