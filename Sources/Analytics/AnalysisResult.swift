import Foundation

/// The result of one analysis: every figure of the report. Its JSON form (snake_case keys,
/// schema `fidelis.report/v1`, documented in docs/report-schema.md) is the report's JSON
/// artifact; the Markdown and HTML reports print only figures held here.
public struct AnalysisResult: Sendable, Codable, Equatable {
  public static let schemaName = "fidelis.report/v1"

  public var schema = AnalysisResult.schemaName
  /// Reference date, YYYY-MM-DD.
  public var asOf: String
  public var period: Period
  public var currency: String
  public var customers: Int
  public var orders: Int
  public var revenue: Double
  public var kpis: KPIs
  public var rfm: RFMSummary
  public var lifecycle: LifecycleSummary
  public var clusters: ClusterSummary
  public var clv: CLVSummary
  public var insights: Insights
  public var alerts: [Alert]
  public var actions: [Action]
  public var targets: [KPITarget]
  public var keyPoints: [KeyPoint]
  public var dataQuality: DataQuality
  /// Set beside the previous report of the series, when there is one.
  public var comparison: Comparison?

  /// First and last day with an order.
  public struct Period: Sendable, Codable, Equatable {
    public var first: String
    public var last: String
    public var months: Int
    /// The last calendar month the data covers whole (YYYY-MM); nil when there is none.
    public var lastCompleteMonth: String?
  }

  /// Whole-base indicators (definitions in docs/metrics.md).
  public struct KPIs: Sendable, Codable, Equatable {
    /// Revenue / orders.
    public var averageOrderValue: Double
    /// Revenue / customers.
    public var revenuePerCustomer: Double
    /// Orders / customers.
    public var ordersPerCustomer: Double
    /// Orders per customer per year of tenure: orders / Σ max(tenure, 30 days) × 365.
    public var ordersPerCustomerPerYear: Double
    /// Share of customers with at least two orders.
    public var repeatPurchaseRate: Double
    /// Share of customers with exactly one order.
    public var oneTimeBuyerRate: Double
    /// Customers with an order in the last `at_risk_days` days, and their share.
    public var engagedCustomers: Int
    public var engagedShare: Double
    /// Customers without an order for more than `at_risk_days` days.
    public var inactiveCustomers: Int
    /// Churn and retention of the last complete month, and their mean over the complete
    /// months that have one.
    public var lastMonthChurn: Double?
    public var lastMonthRetention: Double?
    public var averageMonthlyChurn: Double?
    public var monthly: [MonthFigures]
    public var cohorts: [Cohort]
  }

  /// Figures of one calendar month.
  public struct MonthFigures: Sendable, Codable, Equatable {
    public var month: String
    /// Customers with at least one order in the month.
    public var activeCustomers: Int
    /// Customers whose first order falls in the month.
    public var newCustomers: Int
    public var orders: Int
    public var revenue: Double
    public var averageOrderValue: Double
    /// Customers with an order in the `at_risk_days` days ending with the month (the active base).
    public var activeBase: Int
    /// Share of the previous month's active base still in it at the end of this month; nil for the first month.
    public var retention: Double?
    /// 1 − retention.
    public var churn: Double?
    /// True for a first month the data starts after its first day, or a last month it ends
    /// before its last day: its figures cover part of it, and month-over-month figures,
    /// alerts and targets leave it out.
    public var partial: Bool
  }

  /// Customers grouped by the month of their first order.
  public struct Cohort: Sendable, Codable, Equatable {
    public var month: String
    public var customers: Int
    /// Share of the cohort with an order in month 0, 1, 2… after the first.
    public var retention: [Double]
  }

  /// RFM segments: the tie rule of the quintiles and each segment's figures.
  public struct RFMSummary: Sendable, Codable, Equatable {
    public var tieRule: String
    public var segments: [GroupProfile<RFMSegment>]
  }

  /// Lifecycle groups: their day thresholds and each group's figures.
  public struct LifecycleSummary: Sendable, Codable, Equatable {
    public var atRiskDays: Int
    public var lostDays: Int
    public var groups: [GroupProfile<LifecycleGroup>]
  }

  /// K-Means: how k was chosen, the fit's quality and each cluster.
  public struct ClusterSummary: Sendable, Codable, Equatable {
    public var k: Int
    public var chosenBy: ClusterChoice
    public var inertia: Double
    public var silhouette: Double
    public var seed: UInt64
    public var features: [String]
    public var candidates: [Candidate]
    public var profiles: [ClusterProfile]

    /// One k tried while choosing it.
    public struct Candidate: Sendable, Codable, Equatable {
      public var k: Int
      public var silhouette: Double
      public var inertia: Double
    }
  }

  /// One cluster: its name, figures, centre and order value against all orders.
  public struct ClusterProfile: Sendable, Codable, Equatable {
    public var id: Int
    public var name: ClusterName
    public var profile: GroupProfile<ClusterName>
    /// Centre in the standardised feature space (log1p recency, frequency, monetary).
    public var center: [Double]
    /// Mean order value of the cluster divided by that of all orders.
    public var orderValueIndex: Double
  }

  /// Lifetime value: the models, their predictions, their check and their limits.
  public struct CLVSummary: Sendable, Codable, Equatable {
    /// Probabilities alive of customers at risk but still reachable.
    public static let reachableRisk = 0.10...0.70
    /// The purchase model the predictions come from (its `model` says which).
    public var purchaseModel: PurchaseModelParameters
    public var gammaGamma: GammaGammaParameters
    public var horizonMonths: Int
    public var monthlyDiscountRate: Double
    /// Historical value: revenue per customer so far.
    public var historicalMean: Double
    public var predictedTotal: Double
    public var predictedMean: Double
    public var predictedMedian: Double
    public var expectedPurchases: Double
    public var meanProbabilityAlive: Double
    public var distribution: [HistogramBin]
    /// How `valuableAtRisk` was chosen.
    public var valuableAtRiskRule: AtRiskRule
    /// Up to 10 of the most valuable customers (top 20 % by revenue) at risk: by the rule,
    /// whose probability of being alive is in `reachableRisk`, lowest first; or, when the
    /// model finds no dropout, silent for more than at_risk_days but not lost, longest first.
    /// Empty when none qualifies.
    public var valuableAtRisk: [CustomerValue]
    /// What today's customers are expected to bring over the next six months (180 days).
    public var sixMonths: Outlook?
    /// The purchase model checked on held-back data; nil when the history is too short.
    public var validation: ModelValidation?
    /// What the models cannot tell on this data.
    public var diagnostics: [ModelDiagnostic] = []

    /// The rule of the valuable customers at risk.
    public enum AtRiskRule: String, Sendable, Codable {
      /// P(alive) in `reachableRisk`.
      case probabilityAlive = "probability_alive"
      /// Recency past at_risk_days, not past lost_days (when dropout is not identified).
      case recency
    }
  }

  /// Expected purchases and revenue of the current customers over a horizon, undiscounted:
  /// Σ E[purchases in the horizon | history] and Σ of the same × E[order value | history].
  public struct Outlook: Sendable, Codable, Equatable {
    public var days: Int
    public var expectedPurchases: Double
    public var expectedRevenue: Double
    /// Expected revenue per month over the horizon (expected revenue / months).
    public var monthlyRevenue: Double
    /// Revenue per month over the last `recentMonths` complete months of data, for
    /// comparison; nil when the data holds no complete month.
    public var recentMonthlyRevenue: Double?
    /// How many complete months `recentMonthlyRevenue` averages: 6, or fewer when the data
    /// is shorter (0 when it holds no complete month).
    public var recentMonths: Int
  }

  /// One bin of a histogram: its bounds (the last is open) and count.
  public struct HistogramBin: Sendable, Codable, Equatable {
    public var lower: Double
    /// nil for an open last bin.
    public var upper: Double?
    public var count: Int
  }

  /// One customer of a list, with the figures the list is ranked by.
  public struct CustomerValue: Sendable, Codable, Equatable {
    public var customerId: String
    public var revenue: Double
    public var recency: Int
    public var probabilityAlive: Double
    public var predictedClv: Double
  }

  /// What the optional columns tell: service contact, satisfaction, promotions, categories.
  public struct Insights: Sendable, Codable, Equatable {
    public var serviceContact: ServiceContactInsight?
    public var satisfaction: SatisfactionInsight?
    public var promotion: PromotionInsight?
    public var categories: CategoryInsight?
  }

  /// A group of customers and its repeat-purchase rate.
  public struct RateGroup: Sendable, Codable, Equatable {
    public var customers: Int
    /// Share with at least two orders.
    public var repeatRate: Double
    /// Share with an order in the last `at_risk_days` days.
    public var activeShare: Double
  }

  /// Repeat purchase with and without a service contact.
  public struct ServiceContactInsight: Sendable, Codable, Equatable {
    public var withContact: RateGroup
    public var withoutContact: RateGroup
    /// withContact.repeatRate / withoutContact.repeatRate − 1.
    public var repeatLift: Double?
  }

  /// Satisfaction scores and their link with repurchase.
  public struct SatisfactionInsight: Sendable, Codable, Equatable {
    public var customers: Int
    public var average: Double
    /// Pearson correlation of satisfaction with repurchase (0/1).
    public var correlation: Double?
    public var levels: [SatisfactionLevel]
  }

  /// The customers of one satisfaction score and their repeat rate.
  public struct SatisfactionLevel: Sendable, Codable, Equatable {
    public var score: Int
    public var customers: Int
    public var repeatRate: Double
  }

  /// Orders in promotion and normal periods, and their order values.
  public struct PromotionInsight: Sendable, Codable, Equatable {
    public var promo: PeriodFigures
    public var normal: PeriodFigures
    /// Common bins of order values for both histograms.
    public var bins: [Double]
    public var promoHistogram: [Int]
    public var normalHistogram: [Int]
  }

  /// Orders and revenue of promotion or normal periods.
  public struct PeriodFigures: Sendable, Codable, Equatable {
    public var orders: Int
    public var revenue: Double
    public var averageOrderValue: Double
    /// Share of all orders.
    public var orderShare: Double
  }

  /// Spend by category for each lifecycle group.
  public struct CategoryInsight: Sendable, Codable, Equatable {
    public var categories: [String]
    /// Per lifecycle group: revenue share of each category (same order), summing to 1.
    public var byGroup: [CategoryShares]
  }

  /// One lifecycle group's share of spend in each category.
  public struct CategoryShares: Sendable, Codable, Equatable {
    public var group: LifecycleGroup
    public var revenue: Double
    public var shares: [Double]
  }

  /// One automatic alert: the figure, its threshold and whether it is raised.
  public struct Alert: Sendable, Codable, Equatable {
    public var id: AlertID
    public var raised: Bool
    public var figure: Double
    public var threshold: Double
    public var unit: FigureUnit
    /// Customers concerned, when the alert is about customers.
    public var customers: Int?
    /// How far past the threshold, relative to it (0 when not raised).
    public var severity: Double
  }

  /// A recommended action with its target and a computed estimate.
  public struct Action: Sendable, Codable, Equatable {
    public var id: ActionID
    /// Lifecycle group(s), segment or cluster it targets.
    public var segments: [CustomerGroup]
    public var targetCustomers: Int
    public var kpi: KPIID
    public var kpiCurrent: Double?
    public var kpiTarget: Double
    public var estimate: Estimate?
  }

  /// "If `rate` of the `customers` do X, worth `value`", with the base it is computed from.
  public struct Estimate: Sendable, Codable, Equatable {
    public var rate: Double
    public var customers: Int
    /// The base figure the rate applies to (e.g. the sum of their average order values).
    public var base: Double
    public var value: Double
  }

  /// A KPI to monitor: current value, target and the gap to close.
  public struct KPITarget: Sendable, Codable, Equatable {
    public var id: KPIID
    public var current: Double
    public var target: Double
    public var gap: Double
    public var unit: FigureUnit
    /// True when lower is better (churn).
    public var lowerIsBetter: Bool
  }

  /// One of the three key points, chosen by rule from the figures.
  public struct KeyPoint: Sendable, Codable, Equatable {
    public var id: KeyPointKind
    /// What the point is about: a lifecycle group, a cluster or an alert.
    public var subject: Subject
    public var customers: Int?
    public var share: Double?
    public var value: Double?
    public var ratio: Double?

    /// A key point's subject, encoded as the group's, cluster's or alert's name.
    public enum Subject: Hashable, Sendable, TextCoded {
      case group(LifecycleGroup)
      case cluster(ClusterName)
      case alert(AlertID)

      /// The subject a name encodes: the alert, group and cluster names do not overlap.
      public init?(_ text: String) {
        if let alert = AlertID(rawValue: text) {
          self = .alert(alert)
        } else if let group = LifecycleGroup(rawValue: text) {
          self = .group(group)
        } else if let cluster = ClusterName(text) {
          self = .cluster(cluster)
        } else {
          return nil
        }
      }

      public var description: String {
        switch self {
        case .group(let group): group.rawValue
        case .cluster(let name): name.description
        case .alert(let alert): alert.rawValue
        }
      }
    }
  }
}

extension AnalysisResult {
  /// The JSON encoding (snake_case keys, sorted, pretty-printed).
  public func jsonData() throws -> Data {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try encoder.encode(self)
  }

  /// Reads a result from its JSON encoding.
  public static func fromJSON(_ data: Data) throws -> AnalysisResult {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    return try decoder.decode(AnalysisResult.self, from: data)
  }
}
